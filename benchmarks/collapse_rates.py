"""Collapse rates and last-epoch accuracy of suite cells over many seeds, with and without a mitigation.

``run`` trains seeds of suite cells with each cell's tuned parameters (read from a finished suite's
``ROOT/DATASET/METHOD/seed0/result.json`` config when it exists, else the cell's untuned trial-0
values; the source is recorded) plus a variant's overrides, one thread each, skipping seeds whose
result (same config hash) is already in ``--runs``. ``summary`` reads every result under ``--runs``
and writes, per variant and cell: per-seed last / best test balanced accuracy and collapse
(``lpg_meta.collapse``), the collapse count, and for each variant against ``base`` the paired
differences over the common seeds (paired t-test and Wilcoxon signed-rank, two-sided; an exact
McNemar test on the seeds where exactly one of the two collapsed).

Usage:
  python benchmarks/collapse_rates.py run --cell mnist1d_pair/lpg --seeds 0-9 [--variant decay
      --set phi_decay=0.01] [--tuned-from /work/repro/results/cpu]
  python benchmarks/collapse_rates.py summary --out results/bench/collapse_rates.json
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import torch
from scipy import stats

from lpg_meta.bench.cells import expand, load_finished, load_finished_file
from lpg_meta.bench.schema import load_suite
from lpg_meta.collapse import history_collapse
from lpg_meta.results import write_json_atomic
from lpg_meta.train.trainer import train
from lpg_meta.yaml_loader import load_value

RUNS = Path("runs/collapse")


def _seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


def tuned_params(cell: Any, root: Path | None) -> tuple[dict[str, Any], str]:
    """The cell's tuned values from ``root``'s seed-0 result, else its trial-0 (untuned) values."""
    path = root / cell.dataset / cell.method / "seed0" / "result.json" if root else None
    if path is not None and path.exists():
        cfg = json.loads(path.read_text())["config"]
        params = {}
        for key in cell.space:
            section, dot, name = key.partition(".")
            params[key] = cfg[section][name] if dot else cfg["method_params"][key]
        if load_finished_file(path, cell.config(0, params)) is not None:
            return params, str(path)
    return dict(cell.first_trial), "untuned (trial 0)"


def cmd_run(args: argparse.Namespace) -> None:
    suite = load_suite(args.suite)
    overrides = {k: load_value(v) for k, _, v in (s.partition("=") for s in args.overrides)}
    for only in args.cells:
        for cell in expand(suite, only=only):
            params, source = tuned_params(cell, Path(args.tuned_from) if args.tuned_from else None)
            for seed in _seeds(args.seeds):
                cfg = cell.config(seed, {**params, **overrides})
                cfg["train"]["threads"], cfg["train"]["progress"] = 1, "none"
                run_dir = RUNS / args.variant / cell.dataset / cell.method / f"seed{seed}"
                if load_finished(run_dir, cfg) is not None:
                    continue
                result = train(cfg)
                result["experiment"] = {"variant": args.variant, "cell": cell.name, "tuned_params": params,
                                        "params_source": source, "overrides": overrides,
                                        "cpu_capability": torch.backends.cpu.get_cpu_capability()}
                write_json_atomic(run_dir / "result.json", result)
                c = result["collapse"]
                print(f"{args.variant} {cell.name} s{seed}: last {c['last']:.3f} best {c['best']:.3f} "
                      f"collapsed {c['collapsed']} ({result['timing']['seconds_total']:.0f} s)", flush=True)


def _paired(a: dict[int, dict], b: dict[int, dict]) -> dict[str, Any]:
    seeds = sorted(set(a) & set(b))
    diff = [a[s]["last"] - b[s]["last"] for s in seeds]
    out: dict[str, Any] = {"seeds": seeds, "mean_diff_points": 100 * sum(diff) / len(diff) if diff else None}
    if len(diff) >= 2 and any(d != diff[0] for d in diff):
        t = stats.ttest_rel([a[s]["last"] for s in seeds], [b[s]["last"] for s in seeds])
        out["t_test_p"] = float(t.pvalue)
        half = stats.t.ppf(0.975, len(diff) - 1) * stats.tstd(diff) / math.sqrt(len(diff))
        out["ci95_points"] = [100 * (sum(diff) / len(diff) - half), 100 * (sum(diff) / len(diff) + half)]
        out["wilcoxon_p"] = float(stats.wilcoxon(diff).pvalue) if any(diff) else 1.0
    dips = [a[s]["max_dip"] - b[s]["max_dip"] for s in seeds]
    out["max_dip_mean_diff_points"] = 100 * sum(dips) / len(dips) if dips else None
    if len(dips) >= 2 and any(dips):
        out["max_dip_wilcoxon_p"] = float(stats.wilcoxon(dips).pvalue)
    only_a = sum(a[s]["collapsed"] and not b[s]["collapsed"] for s in seeds)
    only_b = sum(b[s]["collapsed"] and not a[s]["collapsed"] for s in seeds)
    out["collapsed_only_variant"], out["collapsed_only_base"] = only_a, only_b
    out["mcnemar_exact_p"] = (float(stats.binomtest(only_a, only_a + only_b).pvalue) if only_a + only_b else 1.0)
    return out


def instability(history: list[dict[str, Any]]) -> dict[str, float]:
    """Continuous companions of the binary collapse flag, from the per-epoch history.

    ``max_dip``: the deepest fall of test balanced accuracy below its running best at any epoch,
    recovered or not; ``loss_rise``: the largest ratio of an epoch's mean train loss to the lowest
    one before it (1 when the train loss never rises; CE's falls monotonically on these rows).
    """
    best, dip, low, rise = -math.inf, 0.0, math.inf, 1.0
    for h in history:
        acc, loss = h.get("test_balanced_accuracy"), h.get("train_loss")
        if isinstance(acc, (int, float)):
            best = max(best, acc)
            dip = max(dip, best - acc)
        if isinstance(loss, (int, float)) and math.isfinite(loss):
            rise = max(rise, loss / low) if low < math.inf else rise
            low = min(low, loss)
    return {"max_dip": dip, "loss_rise": rise}


def cmd_summary(args: argparse.Namespace) -> None:
    table: dict[str, dict[str, dict[int, dict]]] = {}
    info: dict[tuple[str, str], dict] = {}
    for path in sorted(RUNS.glob("*/*/*/seed*/result.json")):
        result = json.loads(path.read_text())
        exp = result["experiment"]
        c = history_collapse(result["history"])
        table.setdefault(exp["variant"], {}).setdefault(exp["cell"], {})[result["seed"]] = {
            "last": c["last"], "best": c["best"], "collapsed": c["collapsed"], "onset_epoch": c["onset_epoch"],
            **instability(result["history"]), "seconds": result["timing"]["seconds_total"]}
        info[exp["variant"], exp["cell"]] = {k: exp[k] for k in ("tuned_params", "params_source", "overrides")}
    out: dict[str, Any] = {"definition": "collapse: last epoch > 20 points below the best epoch "
                           "(test balanced accuracy; lpg_meta.collapse)", "variants": {}}
    for variant, cells in sorted(table.items()):
        for cell, seeds in sorted(cells.items()):
            lasts = [v["last"] for v in seeds.values()]
            entry = {**info[variant, cell], "n": len(seeds), "collapsed": sum(v["collapsed"] for v in seeds.values()),
                     "mean_last": sum(lasts) / len(lasts),
                     "mean_max_dip": sum(v["max_dip"] for v in seeds.values()) / len(seeds),
                     "runs_with_loss_rise_over_1.5": sum(v["loss_rise"] > 1.5 for v in seeds.values()),
                     "std_last": stats.tstd(lasts) if len(lasts) > 1 else None,
                     "per_seed": {str(s): v for s, v in sorted(seeds.items())}}
            if variant != "base" and cell in table.get("base", {}):
                entry["vs_base"] = _paired(seeds, table["base"][cell])
            out["variants"].setdefault(variant, {})[cell] = entry
            print(f"{variant:14s} {cell:24s} n={len(seeds):2d} collapsed={entry['collapsed']} "
                  f"last {100 * entry['mean_last']:.2f} dip {100 * entry['mean_max_dip']:.1f} "
                  f"rise>1.5 {entry['runs_with_loss_rise_over_1.5']}"
                  + (f"  vs base {entry['vs_base']['mean_diff_points']:+.2f}"
                     f" (t p={entry['vs_base'].get('t_test_p', 1):.3f},"
                     f" W p={entry['vs_base'].get('wilcoxon_p', 1):.3f})" if "vs_base" in entry else ""))
    write_json_atomic(args.out, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run")
    run.add_argument("--suite", default="benchmarks/cpu.yaml")
    run.add_argument("--cell", dest="cells", action="append", required=True, help="DATASET_ROW/METHOD_ROW glob")
    run.add_argument("--seeds", default="0-9", help="e.g. 0-9 or 0,3,5-7")
    run.add_argument("--variant", default="base", help="name of this set of overrides")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    run.add_argument("--tuned-from", default=None, help="a finished suite's results folder")
    summary = sub.add_parser("summary")
    summary.add_argument("--out", default="results/bench/collapse_rates.json")
    args = parser.parse_args()
    {"run": cmd_run, "summary": cmd_summary}[args.command](args)


if __name__ == "__main__":
    main()
