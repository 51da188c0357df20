"""Tuning budget study: best of the first 2, 8 and 20 trials of each cell.

Reads the 20-trial studies of ``benchmarks/studies/tuning_budget.yaml`` (run them first with
``lpg-meta run``), takes for each budget k the best complete trial among the first k (ties to the
earliest, as ``bench.tuning.best`` does), gathers or trains that config's seeded runs (seed 0 is
the trial's own run; a config the suite already ran is re-used; the rest train here, 1 thread),
and writes per budget the cells' last-epoch test balanced accuracy, the method ranks per row and
the claims' verdicts (``report.claims``), to ``OUTPUT/summary.json`` and ``summary.md``.

    nice -n 10 python benchmarks/studies/tuning_budget.py [--budgets 2 8 20] [--only 'digits_*/*']
"""

from __future__ import annotations

import argparse
import fnmatch
import statistics
from pathlib import Path
from typing import Any

import optuna
import torch
from optuna.trial import TrialState

from lpg_meta.bench import storage as storage_mod
from lpg_meta.bench.cells import Cell, expand
from lpg_meta.bench.layout import suite_spec
from lpg_meta.bench.schema import Suite, load_suite
from lpg_meta.report.claims import check_claims
from lpg_meta.report.collect import Run
from lpg_meta.report.tidy import results_from_runs
from lpg_meta.results import RESULT_NAME, load_finished_file, write_json_atomic

SUITE = Path("benchmarks/studies/tuning_budget.yaml")


def trials_in_order(suite: Suite, cell: Cell) -> list[optuna.trial.FrozenTrial]:
    """The cell's counted trials by number (one worker, nobody killed: numbers are the order)."""
    store = storage_mod.open_storage(str(suite.output / "optuna.journal"))
    study = optuna.load_study(study_name=cell.study_name, storage=store)
    trials = [t for t in study.get_trials(deepcopy=False)
              if t.state in (TrialState.COMPLETE, TrialState.PRUNED) or t.user_attrs.get("reason") == "diverged"]
    return sorted(trials, key=lambda t: t.number)


def prefix_check(suite: Suite, cell: Cell, other: Path) -> dict[str, Any]:
    """Whether a k-trial run of ``cell`` (its journal in ``other``) drew the first k trials of ours."""
    store = storage_mod.open_storage(str(other / "optuna.journal"))
    names = [s.study_name for s in optuna.get_all_study_summaries(store)
             if s.study_name.endswith(cell.study_name.split(".", 1)[1])]
    short = sorted(optuna.load_study(study_name=names[0], storage=store).get_trials(deepcopy=False),
                   key=lambda t: t.number)
    ours = trials_in_order(suite, cell)[:len(short)]
    same = [a.params == b.params and a.state == b.state and a.value == b.value
            for a, b in zip(short, ours, strict=True)]
    return {"cell": cell.name, "trials": len(short), "same_params_state_value": all(same), "per_trial": same}


def best_of_first(trials: list[optuna.trial.FrozenTrial], k: int) -> optuna.trial.FrozenTrial:
    """The best complete trial among the first ``k`` (maximized metric; ties to the earliest)."""
    complete = [t for t in trials[:k] if t.state == TrialState.COMPLETE]
    return min(complete, key=lambda t: (-t.value, t.number))


def seeded_run(suite: Suite, cell: Cell, trial: optuna.trial.FrozenTrial, seed: int) -> dict[str, Any]:
    """The finished run of ``trial``'s params on ``seed``: found where it already is, else trained."""
    from lpg_meta.train.trainer import train

    cfg = cell.config(seed, dict(trial.params))
    places = [suite.output / cell.dataset / cell.method / "tuning" / f"trial{trial.number:03d}.json",
              cell.run_dir(suite.output, seed) / RESULT_NAME,
              suite.output / "budget_runs" / cell.dataset / cell.method / f"trial{trial.number:03d}"
              / f"seed{seed}" / RESULT_NAME]
    for path in places:
        found = load_finished_file(path, cfg)
        if found is not None:
            return found
    print(f"training {cell.name} trial {trial.number} seed {seed}", flush=True)
    result = train(cfg)
    result["suite"] = {"name": suite.name, "dataset_row": cell.dataset, "method_row": cell.method,
                       "tuned_params": dict(trial.params)}
    write_json_atomic(places[-1], result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", type=int, nargs="+", default=[2, 8, 20])
    parser.add_argument("--only", default="*", help="glob over DATASET/METHOD")
    parser.add_argument("--prefix-check", nargs=2, metavar=("CELL", "OUTPUT"),
                        help="compare CELL's trials with a shorter run of it whose output folder is OUTPUT")
    args = parser.parse_args()
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    suite = load_suite(SUITE)
    cells = [c for c in expand(suite) if fnmatch.fnmatchcase(c.name, args.only)]
    spec = suite_spec(suite)
    out: dict[str, Any] = {"budgets": {}, "trials": {}}
    if args.prefix_check:
        cell = next(c for c in expand(suite) if c.name == args.prefix_check[0])
        out["prefix_check"] = prefix_check(suite, cell, Path(args.prefix_check[1]))
        print(out["prefix_check"])
    for k in args.budgets:
        runs, cells_out = [], {}
        for cell in cells:
            if cell.space:
                trials = trials_in_order(suite, cell)
                if len(trials) < max(args.budgets):
                    print(f"{cell.name}: {len(trials)} trials, fewer than {max(args.budgets)}; left out")
                    continue
                best = best_of_first(trials, k)
                params, number = dict(best.params), best.number
                out["trials"][cell.name] = [{"number": t.number, "state": t.state.name, "value": t.value,
                                             "params": t.params, "seconds": t.user_attrs.get("seconds")}
                                            for t in trials]
                results = {s: seeded_run(suite, cell, best, s) for s in suite.seeds}
            else:
                params, number = {}, None
                results = {s: load_finished_file(cell.run_dir(suite.output, s) / RESULT_NAME, cell.config(s))
                           for s in suite.seeds}
                if any(r is None for r in results.values()):
                    continue
            accs = [r["metrics"]["test"]["balanced_accuracy"] for r in results.values()]
            cells_out[cell.name] = {"trial": number, "params": params, "test_balanced_accuracy": accs,
                                    "mean": statistics.fmean(accs)}
            runs += [Run(Path(cell.name), cell.dataset, cell.method, s, r["status"], r) for s, r in results.items()]
        claims = check_claims(results_from_runs(runs, spec))
        ranks: dict[str, list[str]] = {}
        for row in suite.datasets:
            here = [(name.split("/")[1], c["mean"]) for name, c in cells_out.items() if name.split("/")[0] == row]
            ranks[row] = [m for m, _ in sorted(here, key=lambda x: -x[1])]
        out["budgets"][str(k)] = {
            "cells": cells_out, "ranks": ranks,
            "claims": [{"dataset": c.dataset, "method": c.method, "baseline": c.baseline,
                        "mean_diff": c.result.mean_diff, "p_value": c.result.p_value, "verdict": c.verdict}
                       for c in claims]}
    suite.output.mkdir(parents=True, exist_ok=True)
    write_json_atomic(suite.output / "summary.json", out)
    (suite.output / "summary.md").write_text(markdown(out))
    print(markdown(out))


def markdown(out: dict[str, Any]) -> str:
    budgets = list(out["budgets"])
    lines = ["# Tuning budget study", "",
             "Last-epoch test balanced accuracy (%, mean of seeds 0-2) of each cell's best config among the "
             "first k trials (trial 0 = the row's values), by budget k; the chosen trial in brackets.", "",
             "| cell | " + " | ".join(f"k = {k}" for k in budgets) + " |", "|---|" + "---|" * len(budgets)]
    names = list(out["budgets"][budgets[-1]]["cells"])
    for name in names:
        cells = [out["budgets"][k]["cells"].get(name) for k in budgets]
        lines.append(f"| {name} | " + " | ".join(
            "-" if c is None else f"{100 * c['mean']:.1f}" + ("" if c["trial"] is None else f" [{c['trial']}]")
            for c in cells) + " |")
    lines += ["", "Tuning cost in this study (seconds of wall time per trial, 1 worker, under the shared machine's "
              "load; pruned trials stop early):", "",
              "| row | trials | pruned | mean s a trial | 20 trials, all cells (s) |", "|---|---|---|---|---|"]
    by_row: dict[str, list[dict]] = {}
    for name, trials in out["trials"].items():
        by_row.setdefault(name.split("/")[0], []).extend(trials)
    for row, trials in by_row.items():
        seconds = [t["seconds"] for t in trials if t["seconds"] is not None]
        lines.append(f"| {row} | {len(trials)} | {sum(t['state'] == 'PRUNED' for t in trials)} | "
                     f"{statistics.fmean(seconds):.1f} | {sum(seconds):.0f} |")
    if "prefix_check" in out:
        c = out["prefix_check"]
        lines += ["", f"Prefix check: a separate {c['trials']}-trial run of {c['cell']} drew the same params, "
                  f"states and values as the first {c['trials']} trials of the 20-trial study: "
                  f"{c['same_params_state_value']}."]
    lines += ["", "Method ranks per row (best first):", ""]
    for k in budgets:
        for row, order in out["budgets"][k]["ranks"].items():
            if order:
                lines.append(f"- k = {k}, {row}: {', '.join(order)}")
    lines += ["", "Claims (paired t over seeds, alpha 0.05, as `lpg-meta claims`): verdict by budget.", "",
              "| row | method | baseline | " + " | ".join(f"k = {k}" for k in budgets) + " |",
              "|---|---|---|" + "---|" * len(budgets)]
    keyed = [{(c["dataset"], c["method"], c["baseline"]): c for c in out["budgets"][k]["claims"]} for k in budgets]
    for key in keyed[-1]:
        cols = []
        for table in keyed:
            c = table.get(key)
            cols.append("-" if c is None else f"{c['verdict']} ({100 * c['mean_diff']:+.1f})")
        lines.append(f"| {key[0]} | {key[1]} | {key[2]} | " + " | ".join(cols) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
