"""Results as tidy data: read from a results folder or from committed ``runs.csv``, the same either way.

Three files hold everything the tables, claims and plots need, so they regenerate without
retraining (``write_tidy``):

- ``runs.csv``: one row per run and scalar metric, ``suite, dataset, method, seed, split,
  metric, value``: the last epoch's metrics of both splits, plus ``peak_accuracy`` and
  ``peak_balanced_accuracy`` (best per-epoch value) on noisy rows, and ``collapsed`` (1 or 0,
  ``lpg_meta.collapse`` on the per-epoch test curve) for every finished run, and the numeric
  fields of the PAC-Bayes bound (``train.pac_bayes``: ``bound``, ``kl``, ``sigma``,
  ``test_error``, ...) under split ``pac_bayes``, where a run has one. Values are Python's
  ``repr`` of the float, so they read back bit-identical.
- ``curves.csv.gz`` (gzipped CSV): per-epoch and per-class series for the plots, ``dataset, method, seed,
  series, epoch, class, value`` (6 significant digits): ``test_balanced_accuracy`` per
  epoch; on long-tail rows ``per_class_accuracy`` and
  ``train_count`` per class; every series the run's method declares it records
  (``lpg_meta/catalog``): a per-class one (LPG's) as ``RECORD_<quantity>`` with
  ``gradient_amplification`` (mean ``||g~|| / ||g||``) per epoch and class, on noisy rows with
  ``label_noise_rate`` per training label (the share of the samples carrying it whose true class
  is another); a per-epoch one under its declared name (the reweighting methods'
  ``flipped_weight_share`` and ``weight_auc_clean_vs_flipped`` on noisy rows); on noisy rows
  ``class_noise_rate`` per class (the share of the class's training labels flipped,
  ``data.noise.per_class_rate``).
- ``runs.json``: the layout (row order, display names, tables, each data set row's config,
  each method row's search space and the suite's trial count) and the failed runs with their reason.
- ``run_settings.csv`` (written from result files): each run's resolved method and optimiser
  settings and the values tuning chose, ``dataset, method, seed, section, key, value`` (section
  ``method``, ``optim`` or ``tuned``; the value as JSON).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lpg_meta import catalog
from lpg_meta.errors import UserError
from lpg_meta.registry import Quantity, Series
from lpg_meta.report.collect import RESULT_NAME, Run, load_runs
from lpg_meta.report.layout import Layout, layout_from_dict, protocol
from lpg_meta.results import METRIC_DIRECTIONS, PER_EPOCH_METRICS, history_key, write_atomic

# curves are gzipped: the CPU suite's are 9.8 MB of CSV, 1.1 MB compressed (and committed)
RUNS_CSV, CURVES_CSV, RUNS_JSON, SETTINGS_CSV = "runs.csv", "curves.csv.gz", "runs.json", "run_settings.csv"
SETTING_FIELDS = ("dataset", "method", "seed", "section", "key", "value")
RUN_FIELDS = ("suite", "dataset", "method", "seed", "split", "metric", "value")
CURVE_FIELDS = ("dataset", "method", "seed", "series", "epoch", "class", "value")
# Every metric of a split, the per-epoch ones first (the order of runs.csv's rows).
SCALARS = (*PER_EPOCH_METRICS, *(m for m in METRIC_DIRECTIONS if m not in PER_EPOCH_METRICS))
COLLAPSED = "collapsed"  # 1.0 where lpg_meta.collapse flags the run's test curve, else 0.0
SPLITS = ("test", "val")
PAC_BAYES = "pac_bayes"  # the split of the bound's fields (result.json's ``pac_bayes`` block)
TIMING = "timing"  # the split of a run's measured cost: ``seconds``, its training wall time
NOISE_RATES = "class_noise_rate"  # curves.csv.gz series: each class's realised flip rate
# curves.csv.gz series of LPG runs: mean ||g~|| / ||g|| per epoch and class; flip rate per training label
AMPLIFICATION, LABEL_NOISE_RATE = "gradient_amplification", "label_noise_rate"  # no RECORD_ prefix: no trajectory


@dataclass(frozen=True)
class Failure:
    dataset: str
    method: str
    seed: int
    reason: str
    epoch: int | None


@dataclass
class Results:
    """Every number a report uses, keyed by row names; ``values[(ds, m, split, metric)][seed]``."""

    layout: Layout
    values: dict[tuple[str, str, str, str], dict[int, float]]
    seeds: dict[tuple[str, str], list[int]]  # every run's seed, failed ones included
    failures: list[Failure] = field(default_factory=list)
    curves: dict[tuple[str, str, int, str], list[tuple[int | None, int | None, float]]] = field(default_factory=dict)
    # (ds, m, seed) -> {"method": {...}, "optim": {...}, "tuned": {...}}: each run's resolved settings
    settings: dict[tuple[str, str, int], dict[str, dict[str, Any]]] = field(default_factory=dict)

    def get(self, ds: str, m: str, metric: str, split: str = "test") -> dict[int, float]:
        return self.values.get((ds, m, split, metric), {})

    def present(self) -> set[tuple[str, str]]:
        return set(self.seeds)


def _round(value: float) -> float:
    return float(f"{value:.6g}")


def _run_values(run: Run, noisy: bool) -> list[tuple[str, str, float]]:
    collapse = run.collapse
    out = [("test", COLLAPSED, float(bool(collapse and collapse["collapsed"])))]
    for split in SPLITS:
        for metric in SCALARS:
            if (value := run.metric(metric, split)) is not None:
                out.append((split, metric, value))
        if noisy:
            for metric in PER_EPOCH_METRICS:
                key = history_key(split, metric)
                curve = [h[key] for h in run.result.get("history") or [] if isinstance(h.get(key), (int, float))]
                if curve:
                    out.append((split, f"peak_{metric}", float(max(curve))))
    seconds = (run.result.get("timing") or {}).get("seconds_total")
    if isinstance(seconds, (int, float)) and math.isfinite(seconds):
        out.append((TIMING, "seconds", float(seconds)))
    for key, value in (run.result.get(PAC_BAYES) or {}).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out.append((PAC_BAYES, key, float(value)))
    return out


def _run_curves(run: Run, long_tail: bool) -> dict[str, list[tuple[int | None, int | None, float]]]:
    series: dict[str, list[tuple[int | None, int | None, float]]] = {}
    for h in run.result.get("history") or []:
        for key in (history_key("test", "balanced_accuracy"),):  # the plots' series; accuracy would double it
            if isinstance(h.get(key), (int, float)) and math.isfinite(h[key]):
                series.setdefault(key, []).append((int(h["epoch"]), None, _round(h[key])))
    if long_tail:
        per_class = run.result["metrics"]["test"].get("per_class") or []
        series["per_class_accuracy"] = _by_class(per_class)
        counts = (run.result.get("data") or {}).get("per_class", {}).get("train") or []
        series["train_count"] = [(None, c, float(v)) for c, v in enumerate(counts)]
    noise = (run.result.get("data") or {}).get("noise") or {}
    for declared in recorded_series(str((run.result.get("config") or {}).get("method", ""))):
        record = run.result.get(declared.record) or {}
        values = record.get(declared.key)
        if not values:
            continue
        if not declared.per_class:  # one value per epoch (a reweighting method's weight diagnostic)
            series[declared.name] = [(e + 1, None, _round(v)) for e, v in enumerate(values)
                                     if isinstance(v, (int, float)) and math.isfinite(v)]
            continue
        series[declared.curve(record.get("quantity", declared.label))] = _epoch_class(values)
        if record.get("amplification"):  # mean ||g~|| / ||g|| per epoch and class
            series[AMPLIFICATION] = _epoch_class(record["amplification"])
        if noise.get("kind", "none") != "none":  # the label a perturbation is indexed by: its flip rate
            series[LABEL_NOISE_RATE] = _by_class(noise.get("per_label_rate") or [])
    return {k: v for k, v in series.items() if v}


def recorded_series(method: str) -> tuple[Series, ...]:
    """The per-epoch series method ``method`` declares it records (both halves of a plug-in); none for
    a method no longer declared."""
    try:
        parts = catalog.method_parts(method)
    except UserError:
        return ()
    return tuple(s for part in parts if part is not None for s in part.series)


def class_curves(results: Results, ds: str) -> list[tuple[str, str, Series, Quantity]]:
    """``(method row, curve, series, quantity)`` of every per-class series the rows of data set row ``ds``
    record (their methods' declarations say which), in row order, then by curve name."""
    order = {m: i for i, m in enumerate(results.layout.methods)}
    found: dict[tuple[str, str], tuple[Series, Quantity] | None] = {}
    for d, m, _, curve in results.curves:
        if d != ds or (m, curve) in found:
            continue
        method = results.layout.method_of(m)
        found[(m, curve)] = next(((s, q) for s in recorded_series(method) if (q := s.quantity_of(curve))), None)
    hits = sorted(found.items(), key=lambda item: (order.get(item[0][0], len(order)), item[0]))
    return [(m, curve, *hit) for (m, curve), hit in hits if hit is not None]


def _by_class(values: list[float | None]) -> list[tuple[int | None, int | None, float]]:
    """One point per class with a finite value (None marks a class without one)."""
    return [(None, c, _round(v)) for c, v in enumerate(values) if isinstance(v, (int, float)) and math.isfinite(v)]


def last_epoch(points: Sequence[tuple[int | None, int | None, float]]) -> dict[int, float]:
    """class -> value at the last recorded epoch of a per-epoch, per-class curve."""
    final = max((e for e, c, _ in points if e is not None and c is not None), default=None)
    return {c: v for e, c, v in points if final is not None and e == final and c is not None}


def _epoch_class(rows: list[list[float | None]]) -> list[tuple[int | None, int | None, float]]:
    return [(e + 1, c, _round(v)) for e, row in enumerate(rows)
            for c, v in enumerate(row) if isinstance(v, (int, float)) and math.isfinite(v)]


def _data_key(run: Run) -> str:
    """What identifies a run's noisy training set: its row, seed, split sizes and label counts."""
    data = run.result.get("data") or {}
    noise = data.get("noise") or {}
    same = {k: noise.get(k) for k in ("kind", "rate", "realised_rate", "map")}
    return json.dumps([run.dataset_row, run.seed, data.get("sizes"), data.get("per_class"), same],
                      sort_keys=True, default=str)


def class_noise_rates(runs: list[Run]) -> dict[str, list[float | None]]:
    """``_data_key`` -> the per-class flip rates that some run with that training set recorded.

    A run's data set depends on its row's data settings and seed, not on its method, so a run
    recorded before ``per_class_rate`` existed takes it from a run with the same data record.
    """
    out: dict[str, list[float | None]] = {}
    for run in runs:
        rates = ((run.result.get("data") or {}).get("noise") or {}).get("per_class_rate")
        if rates:
            out.setdefault(_data_key(run), rates)
    return out


def _dataset_config(config: dict[str, Any]) -> dict[str, Any]:
    keep = {k: config[k] for k in ("dataset", "model", "data") if k in config}
    return {**keep, "train": {"epochs": (config.get("train") or {}).get("epochs")}}


def results_from_runs(runs: list[Run], spec: dict[str, Any] | None = None) -> Results:
    """Tidy results of loaded runs; ``spec`` (see ``layout``) gives order, names and tables."""
    layout = layout_from_dict(spec or {})
    for run in runs:  # rows the spec does not list go last, in sorted order (runs are sorted)
        info = layout.datasets.setdefault(run.dataset_row, {})
        if "config" not in info and run.config:
            info["config"] = _dataset_config(run.config)
        layout.methods.setdefault(run.method_row, {}).setdefault("method", run.config.get("method") or run.method_row)
        if not layout.suite:
            layout.suite = str((run.result.get("suite") or {}).get("name") or "")
    results = Results(layout, {}, {})
    noise_rates = class_noise_rates(runs)
    for run in runs:
        cell = (run.dataset_row, run.method_row)
        results.seeds.setdefault(cell, []).append(run.seed)
        sections = {"method": run.config.get("method_params"), "optim": run.config.get("optim"),
                    "tuned": (run.result.get("suite") or {}).get("tuned_params")}
        # empty sections (and runs with none) are left out, as reading run_settings.csv (a line per key) leaves them
        if kept := {name: dict(values) for name, values in sections.items() if values}:
            results.settings[(*cell, run.seed)] = kept
        if not run.ok:
            reason, epoch = run.failure
            results.failures.append(Failure(*cell, run.seed, reason, epoch))
            continue
        config = layout.datasets[run.dataset_row].get("config") or {}
        for split, metric, value in _run_values(run, protocol(config) == "noisy"):
            results.values.setdefault((*cell, split, metric), {})[run.seed] = value
        for series, points in _run_curves(run, protocol(config) == "long-tail").items():
            results.curves[(*cell, run.seed, series)] = points
        if protocol(config) == "noisy" and (rates := noise_rates.get(_data_key(run))):
            results.curves[(*cell, run.seed, NOISE_RATES)] = _by_class(rates)
    return results


def write_tidy(results: Results, folder: str | Path) -> list[Path]:
    """Write ``runs.csv``, ``curves.csv.gz``, ``runs.json`` and ``run_settings.csv`` into ``folder``; return
    their paths."""
    folder = Path(folder)
    runs = io.StringIO()
    writer = csv.writer(runs, lineterminator="\n")
    writer.writerow(RUN_FIELDS)
    for (ds, m, split, metric), by_seed in results.values.items():
        for seed, value in sorted(by_seed.items()):
            writer.writerow([results.layout.suite, ds, m, seed, split, metric, repr(float(value))])
    curves = io.StringIO()
    writer = csv.writer(curves, lineterminator="\n")
    writer.writerow(CURVE_FIELDS)
    for (ds, m, seed, series), points in results.curves.items():
        for epoch, cls, value in points:
            writer.writerow([ds, m, seed, series, "" if epoch is None else epoch, "" if cls is None else cls,
                             f"{value:.6g}"])
    meta = {**results.layout.to_dict(), "seeds": [[ds, m, seeds] for (ds, m), seeds in results.seeds.items()],
            "failures": [[f.dataset, f.method, f.seed, f.reason, f.epoch] for f in results.failures]}
    settings = io.StringIO()
    writer = csv.writer(settings, lineterminator="\n")
    writer.writerow(SETTING_FIELDS)
    for (ds, m, seed), sections in sorted(results.settings.items()):
        for section, values in sections.items():
            writer.writerows([ds, m, seed, section, k, json.dumps(v, sort_keys=True)]
                             for k, v in sorted(values.items()))
    paths = [folder / RUNS_CSV, folder / CURVES_CSV, folder / RUNS_JSON, folder / SETTINGS_CSV]
    texts = (runs.getvalue(), curves.getvalue(), json.dumps(meta, indent=1) + "\n", settings.getvalue())
    for path, text in zip(paths, texts, strict=True):
        data = text.encode()
        if path.suffix == ".gz":  # mtime 0: the same curves give the same bytes
            data = gzip.compress(data, mtime=0)
        write_atomic(path, lambda handle, data=data: handle.write(data))
    return paths


def read_tidy(path: str | Path, spec: dict[str, Any] | None = None) -> Results:
    """Results from ``runs.csv`` and the ``runs.json`` (and ``curves.csv.gz``, if any) beside it."""
    path = Path(path)
    meta_path = path.with_name(RUNS_JSON)
    try:
        meta = json.loads(meta_path.read_text())
        reader = csv.DictReader(path.open())
        rows = list(reader)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, csv.Error) as err:
        raise UserError(f"cannot read {path} with {meta_path.name} beside it ({err}); write both with "
                        "'lpg-meta table RESULTS --write'.") from None
    if tuple(reader.fieldnames or ()) != RUN_FIELDS:
        raise UserError(f"{path} is not a runs.csv: its header must be {','.join(RUN_FIELDS)}.")
    layout = layout_from_dict({**meta, **{k: v for k, v in (spec or {}).items() if k != "datasets"}})
    if spec:  # display names from the spec, configs from the file
        for ds, info in (spec.get("datasets") or {}).items():
            layout.datasets.setdefault(ds, {}).update(info)
    results = Results(layout, {}, {tuple(k[:2]): list(k[2]) for k in meta.get("seeds", [])},
                      [Failure(*f) for f in meta.get("failures", [])])
    for row in rows:
        key = (row["dataset"], row["method"], row["split"], row["metric"])
        results.values.setdefault(key, {})[int(row["seed"])] = float(row["value"])
    curves = path.with_name(CURVES_CSV)
    if curves.is_file():
        for row in csv.DictReader(gzip.open(curves, "rt", newline="")):
            point = (int(row["epoch"]) if row["epoch"] else None, int(row["class"]) if row["class"] else None,
                     float(row["value"]))
            key = (row["dataset"], row["method"], int(row["seed"]), row["series"])
            results.curves.setdefault(key, []).append(point)
    settings = path.with_name(SETTINGS_CSV)
    if settings.is_file():
        for row in csv.DictReader(settings.open()):
            run = results.settings.setdefault((row["dataset"], row["method"], int(row["seed"])), {})
            run.setdefault(row["section"], {})[row["key"]] = json.loads(row["value"])
    return results


def load_results(source: str | Path, spec: dict[str, Any] | None = None) -> Results:
    """Results of a results folder (its ``result.json`` files) or of a ``runs.csv``.

    A folder without result files but with a ``runs.csv`` reads that. A folder's own
    ``runs.json`` supplies order, names and tables unless ``spec`` is given.
    """
    source = Path(source)
    if source.is_file():
        return read_tidy(source, spec)
    if source.is_dir() and not any(source.rglob(RESULT_NAME)) and (source / RUNS_CSV).is_file():
        return read_tidy(source / RUNS_CSV, spec)
    if spec is None and (source / RUNS_JSON).is_file():
        saved = json.loads((source / RUNS_JSON).read_text())
        spec = {k: saved.get(k) for k in ("suite", "methods", "tables", "claims", "tuning")}
        spec["datasets"] = {ds: {k: v for k, v in info.items() if k != "config"}
                            for ds, info in (saved.get("datasets") or {}).items()}
    return results_from_runs(load_runs(source), spec)
