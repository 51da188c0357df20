"""How often the tuned choice of a cell turns on the CPU kernels, for each selection margin.

The CPU suite's rows are tuned twice, once with PyTorch's default kernels for this CPU and once
with ``ATEN_CPU_CAPABILITY`` forced to another level (``default``: no SIMD), each into its own
output folder; everything else (commit, seeds, trials) is the same. The trials' scores
(``bench.selection``: validation images averaged over the last epochs) are read from both
journals and the choice is recomputed for each margin: the share of cells whose choice is the
same on both kernels, and the share that keeps the drawn trial (what tuning still changes).

Only the tuning matters here, so the derived suite runs one evaluation seed (seed 0) instead of
the suite's six; the rows default to every row but the two noisy MNIST-1D ones (58 % of the
suite's time).

    python benchmarks/studies/kernel_margin.py --out results/studies/kernel_margin
    python benchmarks/studies/kernel_margin.py --out results/studies/kernel_margin --reuse  # reread

A kernel whose trials already exist elsewhere (the suite's own run, another study) is read from
those journals instead of trained again: ``--journal machine=results/cpu/optuna.journal`` (repeat
the option to combine journals; only the cells of ``--rows`` are compared).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import optuna
import yaml
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from lpg_meta.bench.cells import expand
from lpg_meta.bench.schema import load_suite
from lpg_meta.bench.selection import Score, choose
from lpg_meta.bench.storage import origin
from lpg_meta.results import cpu_info

REPO = Path(__file__).resolve().parents[2]
ROWS = ("mnist1d_bal", "mnist1d_lt", "digits_bal", "digits_lt", "digits_sym", "digits_asym")
MARGINS = (0, 1, 2, 3, 4, 5, 6, 8, 10)
KERNELS = ("machine", "default")  # "machine": ATEN_CPU_CAPABILITY unset


def derived_suite(rows: tuple[str, ...], out: Path) -> Path:
    """cpu.yaml with only ``rows`` and evaluation seed 0; written to ``out/suite.yaml``."""
    suite = yaml.safe_load((REPO / "benchmarks" / "cpu.yaml").read_text())
    suite["suite"] = "kernel_margin"
    suite["datasets"] = {name: row for name, row in suite["datasets"].items() if name in rows}
    excluded = suite.get("matrix", {}).get("exclude", [])
    # An exclusion that names only dropped rows would be an error (it matches no cell).
    suite.setdefault("matrix", {})["exclude"] = [
        rule for rule in excluded if any(fnmatch.fnmatchcase(row, rule.split("/")[0]) for row in rows)]
    suite["seeds"] = [0]
    suite.pop("extra_seeds", None)
    suite.pop("tables", None)  # tables and claims name all eight rows
    suite.pop("claims", None)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


def run(suite: Path, kernel: str, folder: Path, workers: int) -> float:
    env = dict(os.environ)
    env.pop("ATEN_CPU_CAPABILITY", None)
    if kernel != "machine":
        env["ATEN_CPU_CAPABILITY"] = kernel
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "lpg_meta.cli", "run", str(suite), "--workers", str(workers),
                    "--out", str(folder)], env=env, check=True)
    return time.perf_counter() - started


def tune_keys(suite: Path) -> dict[str, str]:
    """Cell -> the key of its current tuning (``Cell.tune_key``: what its trials depend on)."""
    return {cell.name: cell.tune_key for cell in expand(load_suite(str(suite)))}


def trial_scores(journal: Path, rows: tuple[str, ...] | None = None,
                 keys: dict[str, str] | None = None) -> dict[str, dict]:
    """Per tuned cell (of ``rows``, or all): its trials by number (params, state, score where complete).

    With ``keys`` (``tune_keys``), only a study of the cell's current tuning counts: a journal that also
    holds an earlier design of a row (its config changed since) keeps that study under the same cell.
    """
    store = JournalStorage(JournalFileBackend(str(journal)))
    cells = {}
    for summary in optuna.get_all_study_summaries(store, include_best_trial=False):
        if summary.study_name.endswith(".runs"):
            continue
        study = optuna.load_study(study_name=summary.study_name, storage=store)
        cell = study.user_attrs.get("cell", "")
        if rows is not None and cell.split("/")[0] not in rows:
            continue
        if keys is not None and not summary.study_name.endswith(f".{keys.get(cell)}"):
            continue
        # listed as the suite chooses among them: by first attempt (a retried trial keeps its place)
        trials = sorted(study.get_trials(deepcopy=False), key=origin)
        cells[study.user_attrs.get("cell", summary.study_name)] = {
            "maximize": study.direction == optuna.study.StudyDirection.MAXIMIZE,
            "trials": [{"number": origin(t), "state": t.state.name, "params": t.params,
                        "score": ([int(t.user_attrs["score_units"]), int(t.user_attrs["score_measurements"])]
                                  if t.state == TrialState.COMPLETE else None)} for t in trials]}
    return cells


def chosen(cell: dict, margin: float) -> int | None:
    """The trial (by first attempt) ``bench.selection`` chooses among the complete trials at ``margin``."""
    complete = [t for t in cell["trials"] if t["score"] is not None]
    if not complete:
        return None
    return complete[choose([Score(*t["score"]) for t in complete], margin, cell["maximize"])]["number"]


def quantile(values: list[float], q: float) -> float | None:
    """The ``q`` quantile of ``values`` (the order statistic at ``q n``), or None for none."""
    return sorted(values)[min(len(values) - 1, int(q * len(values)))] if values else None


def summarise(first: dict[str, dict], second: dict[str, dict]) -> dict:
    common = sorted(set(first) & set(second))
    same_draws = [c for c in common if [t["params"] for t in first[c]["trials"]]
                  == [t["params"] for t in second[c]["trials"]]]
    states_differ = [c for c in same_draws if [t["state"] for t in first[c]["trials"]]
                     != [t["state"] for t in second[c]["trials"]]]
    # The same trial's score on the two kernels, in validation images: what the kernels alone move.
    moves = [abs(float(Score(*a["score"]).images - Score(*b["score"]).images)) for c in same_draws
             for a, b in zip(first[c]["trials"], second[c]["trials"], strict=True) if a["score"] and b["score"]]
    gaps = [abs(float(Score(*ts[1]["score"]).images - Score(*ts[0]["score"]).images))
            for ts in (first[c]["trials"] for c in common) if len(ts) > 1 and ts[0]["score"] and ts[1]["score"]]
    by_margin = []
    for margin in MARGINS:
        picks = [(chosen(first[c], margin), chosen(second[c], margin)) for c in same_draws]
        same = sum(a == b for a, b in picks)
        by_margin.append({"margin_images": margin, "cells": len(picks), "same_choice": same,
                          "share_same": round(same / len(picks), 4) if picks else None,
                          "keeps_drawn_trial": sum(a not in (0, None) for a, _ in picks),
                          "moved": [c for c, (a, b) in zip(same_draws, picks, strict=True) if a != b]})
    return {"cells_compared": len(same_draws), "cells_with_other_draws": sorted(set(common) - set(same_draws)),
            "cells_pruned_on_one_kernel_only": states_differ,
            "kernel_move_images": {"median": statistics.median(moves) if moves else None,
                                   "p90": quantile(moves, 0.9), "max": max(moves, default=None)},
            "trial_gap_images": {"median": statistics.median(gaps) if gaps else None, "p90": quantile(gaps, 0.9)},
            "by_margin": by_margin}


def markdown(record: dict) -> str:
    s = record["summary"]
    lines = ["# Tuned choices on two CPU kernels, by selection margin\n",
             f"{record['what']}\n",
             f"Cells compared: {s['cells_compared']} (same trials drawn on both kernels). The same trial's score "
             f"moves by {s['kernel_move_images']['median']:.2f} validation images at the median between the kernels "
             f"(90th percentile {s['kernel_move_images']['p90']:.2f}, max {s['kernel_move_images']['max']:.2f}); "
             f"the two trials of a cell differ by {s['trial_gap_images']['median']:.2f} images at the median. "
             f"Cells whose pruning differs between the kernels: {len(s['cells_pruned_on_one_kernel_only'])}.\n",
             "| margin (images) | same choice | share | cells keeping the drawn trial | moved cells |",
             "|---:|---:|---:|---:|---|"]
    for m in s["by_margin"]:
        lines.append(f"| {m['margin_images']} | {m['same_choice']}/{m['cells']} | {m['share_same']:.3f} | "
                     f"{m['keeps_drawn_trial']} | {', '.join(m['moved']) or '-'} |")
    stable = next((m for m in s["by_margin"] if m["share_same"] is not None and m["share_same"] >= 0.95), None)
    if stable:
        lines.append(f"\nThe smallest margin with at least 95 % of choices the same on both kernels: "
                     f"{stable['margin_images']} images ({stable['share_same']:.1%}); at it "
                     f"{stable['keeps_drawn_trial']} of {stable['cells']} cells keep their drawn trial "
                     "(tuning changes their values).")
    cpu = record["cpu"]
    took = ", ".join(f"{kernel} kernels {seconds:,.0f} s" for kernel, seconds in record["seconds"].items() if seconds)
    lines.append(f"\nTime with 2 workers: {took or 'not measured (reread)'}. CPU: {cpu['model']} "
                 f"({', '.join(cpu['flags'])}).")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder: runs/, summary.json, summary.md")
    parser.add_argument("--rows", nargs="+", default=list(ROWS))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reuse", action="store_true", help="read the existing runs; train nothing")
    parser.add_argument("--journal", action="append", default=[], metavar="KERNEL=PATH",
                        help="read KERNEL's trials from this journal instead of training them (repeatable)")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows = tuple(args.rows)
    given: dict[str, list[Path]] = {}
    for item in args.journal:
        kernel, _, path = item.partition("=")
        if kernel not in KERNELS or not path:
            parser.error(f"--journal {item!r}: write KERNEL=PATH with KERNEL one of {', '.join(KERNELS)}")
        given.setdefault(kernel, []).append(Path(path))
    suite = derived_suite(rows, args.out / "runs")
    earlier = args.out / "summary.json"
    seconds = json.loads(earlier.read_text())["seconds"] if args.reuse and earlier.exists() else {}
    journals = {}
    for kernel in KERNELS:
        folder = args.out / "runs" / kernel
        if kernel not in given and not args.reuse:
            seconds[kernel] = round(run(suite, kernel, folder, args.workers), 1)
        journals[kernel] = given.get(kernel, [folder / "optuna.journal"])
    keys = tune_keys(suite)
    scores = [{cell: trials for journal in journals[k] for cell, trials in trial_scores(journal, rows, keys).items()}
              for k in KERNELS]
    read = "; ".join(f"{k} from {', '.join(map(str, journals[k]))}" for k in given)
    record = {"what": (f"benchmarks/cpu.yaml rows {', '.join(rows)} (2 trials each on tuning seed 1000), "
                       "tuned once with this CPU's kernels and once with ATEN_CPU_CAPABILITY=default; choices "
                       "recomputed from both journals for each margin." + (f" Trials read: {read}." if read else "")),
              "cpu": cpu_info(), "seconds": seconds,
              "summary": summarise(*scores)}
    (args.out / "summary.json").write_text(json.dumps(record, indent=1) + "\n")
    (args.out / "summary.md").write_text(markdown(record))
    print(markdown(record))


if __name__ == "__main__":
    main()
