"""Summarize the meta_interval / meta_batch_size study.

Reads ``results/studies/meta_interval/*/*/seed*/result.json`` and writes ``summary.json`` and
``summary.md`` beside them: per row and method variant, the last-epoch test balanced accuracy of
each seed, the run time against ``ce`` (same row and seeds), the steps and meta steps
(load-independent), and each variant's difference to its interval-1 method, paired over
(row, seed), with an exact sign-flip permutation test and a paired t statistic.

    python benchmarks/studies/summarize_meta_interval.py [results/studies/meta_interval]
"""

from __future__ import annotations

import itertools
import json
import math
import random
import statistics
import sys
from pathlib import Path

RATIO_GOAL = 1.5


def load(folder: Path) -> dict[tuple[str, str], dict[int, dict]]:
    """``{(row, method row): {seed: result}}`` of every finished run."""
    runs: dict[tuple[str, str], dict[int, dict]] = {}
    for path in sorted(folder.glob("*/*/seed*/result.json")):
        row, method = path.parts[-4], path.parts[-3]
        result = json.loads(path.read_text())
        runs.setdefault((row, method), {})[result["seed"]] = result
    return runs


def run_record(result: dict) -> dict:
    """What the summary keeps of one run."""
    params = result["config"]["method_params"]
    steps = result["timing"]["steps"]
    interval = params.get("meta_interval")
    own = result.get(result["config"]["method"], {})
    return {
        "balanced_accuracy": result["metrics"]["test"]["balanced_accuracy"],
        "seconds": result["timing"]["seconds_total"],
        "steps": steps,
        # the trainer's global step counts from 0; a meta step wherever step % interval == 0
        "meta_steps": None if interval is None else -(-steps // interval),
        "meta_interval": interval,
        "meta_batch_size": params.get("meta_batch_size"),
        "time_meta_s": own.get("time_meta_s"),
        "time_real_s": own.get("time_real_s"),
        # The run's cost over a ce run from within the same run, so under the same load: without
        # its meta steps a meta method's run is a ce run (the real step is a plain ce step).
        "within_run_ratio": (result["timing"]["seconds_total"]
                             / (result["timing"]["seconds_total"] - own["time_meta_s"])
                             if own.get("time_meta_s") is not None else None),
    }


def sign_flip_p(diffs: list[float], draws: int = 20000) -> float:
    """Two-sided sign-flip permutation p-value of the mean paired difference.

    Exact up to 16 pairs; beyond, ``draws`` random sign vectors (seeded), counting the observed one.
    """
    observed = abs(sum(diffs))
    if len(diffs) > 16:
        rng = random.Random(0)
        hits = sum(abs(sum(d if rng.random() < 0.5 else -d for d in diffs)) >= observed - 1e-12 for _ in range(draws))
        return (hits + 1) / (draws + 1)
    flips = list(itertools.product((1, -1), repeat=len(diffs)))
    hits = sum(abs(sum(s * d for s, d in zip(signs, diffs, strict=True))) >= observed - 1e-12 for signs in flips)
    return hits / len(flips)


def paired(base: dict[tuple[str, int], float], other: dict[tuple[str, int], float]) -> dict:
    """Paired comparison of ``other - base`` over their common (row, seed) keys."""
    keys = sorted(set(base) & set(other))
    diffs = [other[k] - base[k] for k in keys]
    if not diffs:
        return {"pairs": 0}
    mean = statistics.fmean(diffs)
    sd = statistics.stdev(diffs) if len(diffs) > 1 else float("nan")
    t = mean / (sd / math.sqrt(len(diffs))) if len(diffs) > 1 and sd > 0 else float("nan")
    per_row: dict[str, list[float]] = {}
    for (row, _), d in zip(keys, diffs, strict=True):
        per_row.setdefault(row, []).append(d)
    return {"pairs": len(diffs), "mean_diff": mean, "sd_diff": sd, "t": t,
            "p_sign_flip": sign_flip_p(diffs),
            "per_row": {r: {"mean": statistics.fmean(v), "sd": statistics.stdev(v) if len(v) > 1 else None,
                            "n": len(v), "p_sign_flip": sign_flip_p(v)} for r, v in per_row.items()}}


def summarize(folder: Path) -> dict:
    runs = load(folder)
    reused_file = folder / "reused.json"
    reused = {tuple(k.split("/")): v for k, v in
              (json.loads(reused_file.read_text()) if reused_file.exists() else {}).items()}
    rows = sorted({r for r, _ in runs}, key=lambda r: (not r.startswith("digits"), r))
    table = []
    for (row, method), seeds in sorted(runs.items()):
        recs = {s: run_record(r) for s, r in seeds.items()}
        ce = runs.get((row, "ce"), {})
        common = sorted(set(recs) & set(ce))
        # Per-seed ratios, then their median: the first run of a process pays one-off start-up
        # costs, and the load changed between runs (the re-used cells were timed beside their own
        # suite's ce run of the same seed).
        if (row, method) in reused:
            ce_seconds = dict(zip(reused[(row, method)]["seeds"], reused[(row, method)]["ce_seconds"], strict=True))
        else:
            ce_seconds = {s: run_record(ce[s])["seconds"] for s in ce}
        common = sorted(set(recs) & set(ce_seconds))
        ratio = statistics.median(recs[s]["seconds"] / ce_seconds[s] for s in common) if common else None
        within = [r["within_run_ratio"] for r in recs.values() if r["within_run_ratio"] is not None]
        table.append({"row": row, "method": method, "reused_from_cpu_suite": (row, method) in reused,
                      "within_run_ratio": statistics.median(within) if within else None,
                      "method_name": next(iter(seeds.values()))["config"]["method"],
                      "seeds": sorted(recs), "runs": recs, "time_ratio_vs_ce": ratio,
                      "balanced_accuracy_mean": statistics.fmean(r["balanced_accuracy"] for r in recs.values()),
                      "balanced_accuracy_sd": (statistics.stdev(r["balanced_accuracy"] for r in recs.values())
                                               if len(recs) > 1 else None)})
    comparisons = {}
    accs = {(t["row"], t["method"]): {s: r["balanced_accuracy"] for s, r in t["runs"].items()} for t in table}
    for base in {t["method"] for t in table if t["method"] == t["method_name"] and t["method"] != "ce"}:
        for variant in sorted({t["method"] for t in table if t["method"].startswith(base + "_")}):
            b = {(r, s): v for (r, m), d in accs.items() if m == base for s, v in d.items()}
            o = {(r, s): v for (r, m), d in accs.items() if m == variant for s, v in d.items()}
            comparisons[f"{variant} - {base}"] = paired(b, o)
    return {"folder": str(folder), "rows": rows, "cells": table, "paired_vs_interval_1": comparisons,
            "ratio_goal": RATIO_GOAL}


# How the first study's runs were timed; a later run of the script names its own (second argument).
CONDITIONS = "measured under load on the shared 2-core machine, 1 thread, niced: the load varied 2-4x between runs"


def markdown(summary: dict, conditions: str = CONDITIONS) -> str:
    lines = ["# meta_interval / meta_batch_size study", "",
             "Last-epoch test balanced accuracy (%, mean ± sd over seeds), run time / ce run time (same row, "
             f"median over seeds of the per-seed ratio; {conditions}), the within-run ratio (median over seeds of "
             "total / (total - meta-step "
             "time) of the same run: the run against itself without its meta steps, which is a ce run), and "
             "steps and meta steps per run (load-independent).", "",
             "| row | method | seeds | bal. acc. | sd | time / ce | within-run ratio | steps | meta steps |",
             "|---|---|---|---|---|---|---|---|---|"]
    for t in summary["cells"]:
        first = next(iter(t["runs"].values()))
        ratio = "-" if t["time_ratio_vs_ce"] is None else f"{t['time_ratio_vs_ce']:.2f}"
        sd = "-" if t["balanced_accuracy_sd"] is None else f"{100 * t['balanced_accuracy_sd']:.1f}"
        mark = " (cpu suite)" if t["reused_from_cpu_suite"] else ""
        within = "-" if t["within_run_ratio"] is None else f"{t['within_run_ratio']:.2f}"
        meta = first["meta_steps"] or "-"
        lines.append(f"| {t['row']} | {t['method']}{mark} | {len(t['seeds'])} | "
                     f"{100 * t['balanced_accuracy_mean']:.1f} | {sd} | {ratio} | {within} | {first['steps']} | "
                     f"{meta} |")
    lines += ["", "Paired differences to interval 1 (variant - base, points of balanced accuracy) over (row, seed) "
              "pairs: mean, sd, paired t, two-sided sign-flip permutation p (exact up to 16 pairs, else 20,000 "
              "seeded draws); then per row: mean (sd, pairs, sign-flip p; with 3 pairs p >= 0.25).", "",
              "| comparison | pairs | mean | sd | t | p (sign flip) | per row |", "|---|---|---|---|---|---|---|"]
    for name, c in sorted(summary["paired_vs_interval_1"].items()):
        if not c["pairs"]:
            continue
        per_row = "; ".join(f"{r} {100 * v['mean']:+.1f}" + (f" ({100 * v['sd']:.1f}" if v["sd"] is not None else " (-")
                            + f", n {v['n']}, p {v['p_sign_flip']:.2f})" for r, v in c["per_row"].items())
        p = "-" if c["p_sign_flip"] is None else f"{c['p_sign_flip']:.3f}"
        lines.append(f"| {name} | {c['pairs']} | {100 * c['mean_diff']:+.2f} | {100 * c['sd_diff']:.2f} | "
                     f"{c['t']:.2f} | {p} | {per_row} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "results/studies/meta_interval")
    conditions = sys.argv[2] if len(sys.argv) > 2 else CONDITIONS
    summary = summarize(folder)
    (folder / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    (folder / "summary.md").write_text(markdown(summary, conditions))
    print(markdown(summary, conditions))


if __name__ == "__main__":
    main()
