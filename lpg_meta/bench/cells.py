"""Expanding a suite into cells (dataset row x method row) and the hashes that key finished work.

Two keys make re-runs incremental: a seeded run is done when its folder holds a
``result.json`` whose resolved config hashes the same (``config_hash``); a cell's tuning
study is named after a hash of everything tuning depends on (``Cell.study_name``), so a
changed row gets a fresh study while the others keep theirs.
"""

from __future__ import annotations

import copy
import fnmatch
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lpg_meta import catalog
from lpg_meta.bench.overrides import apply_overrides
from lpg_meta.bench.schema import Suite
from lpg_meta.bench.space import check_in_space, parse_space
from lpg_meta.config import merge, resolve_config
from lpg_meta.errors import UserError, closest
from lpg_meta.params import resolve_params
from lpg_meta.registry import DATASETS, MODELS
from lpg_meta.results import RESULT_NAME, config_hash, load_finished_file


def _hash(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=list).encode()).hexdigest()[:12]


def apply_params(raw: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Put tuned values into a raw run config: ``optim.NAME`` keys into ``optim``, others into ``method_params``."""
    out = copy.deepcopy(raw)
    for key, value in params.items():
        section, dot, name = key.partition(".")
        if dot:
            out.setdefault(section, {})[name] = value
        else:
            out.setdefault("method_params", {})[key] = value
    return out


@dataclass(frozen=True)
class Cell:
    """One dataset row x method row: its raw run config, search space and first-trial values."""

    suite: str
    dataset: str  # row names, not registry names
    method: str
    raw: dict[str, Any]  # run config without seed; defaults < dataset row < method row
    space: dict[str, tuple]  # empty: no tuning
    first_trial: dict[str, Any]  # the untuned values of the space's keys (enqueued as trial 0)
    tune_key: str

    @property
    def name(self) -> str:
        return f"{self.dataset}/{self.method}"

    @property
    def study_name(self) -> str:
        """Optuna study name; changes whenever anything tuning depends on changes."""
        return f"{self.suite}.{self.dataset}.{self.method}.{self.tune_key}"

    def runs_study_name(self, params: dict[str, Any]) -> str:
        """Name of the study holding the cell's seeded runs with tuned ``params`` (one trial per seed)."""
        return f"{self.suite}.{self.dataset}.{self.method}.{_hash(apply_params(self.raw, params))}.runs"

    def config(self, seed: int, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """The resolved run config for ``seed`` with tuned ``params`` applied."""
        return resolve_config({**apply_params(self.raw, params or {}), "seed": seed})

    def run_dir(self, output: Path, seed: int) -> Path:
        return Path(output) / self.dataset / self.method / f"seed{seed}"


def expand(suite: Suite, only: str | None = None, flag: str = "--only") -> list[Cell]:
    """All cells of the matrix (or those whose ``dataset/method`` name matches glob ``only``, given by ``flag``).

    Each cell's config is resolved and checked here, so a bad combination fails before any
    training starts.
    """
    names = [f"{d}/{m}" for d, m in suite.matrix]
    pairs = suite.matrix
    if only is not None:
        pairs = [p for p, n in zip(suite.matrix, names, strict=True) if fnmatch.fnmatchcase(n, only)]
        if not pairs:
            raise UserError(f"{flag} {only!r} matches no cell.{closest(only, names)} Cells: {', '.join(names)}.")
    return [_cell(suite, d, m) for d, m in pairs]


def row_defaults(defaults: dict[str, Any], source: str, model: str) -> dict[str, Any]:
    """The suite ``defaults`` that apply to a row of data source ``source`` trained with ``model``.

    A source's or model's own setting (MNIST-1D's ``data.num_samples``, a model's width) applies
    only to the rows that have it, so one more row of another source needs no edit of the
    defaults; a setting that no registered source (or model) has is a typo and an error.
    """
    out = copy.deepcopy(defaults)
    for key, kind, registry, declared, own in (("data", "data source", DATASETS, catalog.source, source),
                                               ("model_params", "model", MODELS, catalog.model, model)):
        given, mine = out.get(key, {}), declared(own).params
        known = {name for entry in registry.names() for name in declared(entry).params}
        for name in [n for n in given if n not in mine]:
            if name not in known:
                raise UserError(f"unknown setting defaults.{key}.{name}: no {kind} has it.{closest(name, known)} "
                                f"Settings of this row's {kind} '{own}': {', '.join(sorted(mine)) or 'none'}.")
            del given[name]  # another source's (model's) setting
    return out


def _cell(suite: Suite, dataset: str, method: str) -> Cell:
    drow, mrow = suite.datasets[dataset], suite.methods[method]
    where = f"cell {dataset}/{method} (datasets.{dataset} with methods.{method})"
    model = drow.model or suite.defaults.get("model") or catalog.source(drow.source).default_model
    try:
        defaults = row_defaults(suite.defaults, drow.source, model)
    except UserError as err:
        raise UserError(f"{where}: {err}") from None
    raw = merge(defaults, {"dataset": drow.source, **drow.sections})
    if drow.model is not None:
        raw["model"] = drow.model
    raw = merge(raw, {"method": mrow.method, "method_params": mrow.params})
    if mrow.model_params:
        raw = merge(raw, {"model_params": mrow.model_params})
    try:
        raw, fixed = apply_overrides(raw, suite.overrides)  # `run --set`: the last layer
        # Defaults apply to every cell; check them per cell so the message names defaults.*.
        for key, table in (("data", catalog.source(drow.source).params),
                           ("method_params", catalog.method_params(mrow.method)),
                           ("model_params", catalog.model(model).params)):
            resolve_params(table, defaults.get(key, {}), f"defaults.{key}")
        cfg = resolve_config({**raw, "seed": suite.seeds[0]})  # data rules: checked on the row (schema)
    except UserError as err:
        raise UserError(f"{where}: {err}") from None
    if mrow.tune is None:
        space = parse_space(catalog.method_search_space(mrow.method), f"methods.{method}.tune",
                            catalog.method_params(mrow.method))
    else:
        space = mrow.tune
    space = {key: dim for key, dim in space.items() if key not in fixed}  # --set fixed them
    if suite.tuning.trials == 0:
        space = {}
    first = {}
    for key, dim in space.items():
        section, dot, name = key.partition(".")
        value = cfg[section][name] if dot else cfg["method_params"][key]
        check_in_space(value, dim, f"methods.{method}.tune.{key}", where)
        first[key] = value
    if space:
        val = cfg["data"]["val_per_class"]
        if (cfg["data"]["meta_per_class"] if val is None else val) <= 0:
            raise UserError(f"datasets.{dataset}.val_per_class: tuning needs a validation split; set it above 0 "
                            "(or set tuning.trials: 0).")
    tuning = suite.tuning
    tune_key = _hash({
        # The trials' own configs: the run config on each tuning seed.
        "config": [config_hash({**cfg, "seed": s}) for s in tuning.seeds],
        "space": {k: list(v) for k, v in space.items()},
        "tuning": [tuning.metric, tuning.direction, tuning.sampler_seed, tuning.pruner, tuning.last_epochs],
    })  # left out on purpose: tuning.trials (raising it continues the same study) and tuning.margin
    # (it only reads the trials' stored scores, see bench.selection)
    return Cell(suite=suite.name, dataset=dataset, method=method, raw=raw, space=space,
                first_trial=first, tune_key=tune_key)


def load_finished(run_dir: Path, cfg: dict[str, Any]) -> dict[str, Any] | None:
    """The result in ``run_dir`` if it is a finished run of exactly ``cfg`` (same ``config_hash``)."""
    return load_finished_file(Path(run_dir) / RESULT_NAME, cfg)
