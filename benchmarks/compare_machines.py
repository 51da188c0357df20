"""How far a suite's conclusions move between two machines (or CPU kernel levels).

Run the same suite from the same commit into two folders (for instance once as is and once with
``ATEN_CPU_CAPABILITY=avx2``), write each folder's claims (``lpg-meta claims FOLDER``), then

    python benchmarks/compare_machines.py FIRST SECOND --json results/bench/machines.json

It compares what a paper would cite, not the last bits:

- the protocol verdicts (``claims_summary.csv``: one per protocol and claim);
- the per-comparison verdicts (``claims.csv``: one per data set, method and baseline), each counted
  once: a comparison against a baseline whose runs repeat another's (its ``same_as``) is left out, as
  the claims leave it out of their tallies;
- each cell's tuned choice: the resolved config of its seeded runs, seed aside (the same config on
  both sides means both machines chose the same trial);
- each cell's mean of the claims' metric over its seeds: the median and largest moves, and how
  many cells moved by more than 1, 2 and 5 points.

Exits 1 when a protocol verdict differs or fewer than ``--min-agreement`` (0.95) of the
comparisons' verdicts or of the tuned choices agree.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from lpg_meta.results import RESULT_NAME

METRIC = "balanced_accuracy"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _verdicts(path: Path, keys: tuple[str, ...]) -> dict[tuple[str, ...], str]:
    """Verdict per key; a row repeating another (``same_as``: identical runs) is not counted again."""
    return {tuple(row[k] for k in keys): row["verdict"] for row in _rows(path) if not row.get("same_as")}


def _agreement(first: dict[Any, str], second: dict[Any, str]) -> dict[str, Any]:
    shared = sorted(set(first) & set(second))
    moved = [{"key": list(k) if isinstance(k, tuple) else k, "first": first[k], "second": second[k]}
             for k in shared if first[k] != second[k]]
    return {"compared": len(shared), "same": len(shared) - len(moved),
            "share_same": (len(shared) - len(moved)) / len(shared) if shared else None,
            "only_in_one": len(set(first) ^ set(second)), "moved": moved}


def tuned_choices(folder: Path) -> dict[str, set[str]]:
    """Cell ``dataset/method`` -> the resolved configs of its seeded runs (canonical JSON), seed aside."""
    out: dict[str, set[str]] = defaultdict(set)
    for path in folder.glob(f"*/*/seed*/{RESULT_NAME}"):
        cfg = dict(json.loads(path.read_text())["config"])
        cfg.pop("seed", None)
        out[f"{path.parts[-4]}/{path.parts[-3]}"].add(json.dumps(cfg, sort_keys=True))
    return out


def cell_means(folder: Path, metric: str = METRIC) -> dict[tuple[str, str], float]:
    values: dict[tuple[str, str], list[float]] = defaultdict(list)
    for row in _rows(folder / "runs.csv"):
        if row["split"] == "test" and row["metric"] == metric:
            values[(row["dataset"], row["method"])].append(float(row["value"]))
    return {cell: statistics.fmean(v) for cell, v in values.items()}


def compare(first: Path, second: Path, describe: tuple[str, str] | None = None) -> dict[str, Any]:
    protocol = _agreement(_verdicts(first / "claims_summary.csv", ("protocol", "claim")),
                          _verdicts(second / "claims_summary.csv", ("protocol", "claim")))
    comparisons = _agreement(_verdicts(first / "claims.csv", ("dataset", "method", "baseline")),
                             _verdicts(second / "claims.csv", ("dataset", "method", "baseline")))
    a, b = tuned_choices(first), tuned_choices(second)
    tuned = _agreement({k: "|".join(sorted(v)) for k, v in a.items()}, {k: "|".join(sorted(v)) for k, v in b.items()})
    tuned["moved"] = [m["key"] for m in tuned["moved"]]
    ma, mb = cell_means(first), cell_means(second)
    moves = sorted(((abs(ma[c] - mb[c]) * 100, c) for c in set(ma) & set(mb)), reverse=True)
    sizes = [m for m, _ in moves]
    return {
        "first": describe[0] if describe else str(first), "second": describe[1] if describe else str(second),
        "metric": METRIC,
        "protocol_verdicts": protocol, "comparison_verdicts": comparisons, "tuned_choices": tuned,
        "cell_mean_moves_points": {
            "cells": len(sizes), "median": statistics.median(sizes) if sizes else None,
            "over_1": sum(m > 1 for m in sizes), "over_2": sum(m > 2 for m in sizes),
            "over_5": sum(m > 5 for m in sizes),
            "largest": [{"cell": "/".join(c), "points": round(m, 3)} for m, c in moves[:10]],
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    parser.add_argument("--json", type=Path, help="write the comparison here")
    parser.add_argument("--min-agreement", type=float, default=0.95)
    parser.add_argument("--describe", nargs=2, metavar=("FIRST", "SECOND"),
                        help="what each folder is (machine, kernels, commit), recorded instead of its path")
    args = parser.parse_args()
    out = compare(args.first, args.second, tuple(args.describe) if args.describe else None)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    for name in ("protocol_verdicts", "comparison_verdicts", "tuned_choices"):
        part = out[name]
        print(f"{name}: {part['same']} of {part['compared']} the same ({len(part['moved'])} moved)")
    moves = out["cell_mean_moves_points"]
    print(f"cell means ({moves['cells']} cells): median move {moves['median']:.2f} points; "
          f"> 1: {moves['over_1']}, > 2: {moves['over_2']}, > 5: {moves['over_5']}")
    ok = (not out["protocol_verdicts"]["moved"]
          and (out["comparison_verdicts"]["share_same"] or 0) >= args.min_agreement
          and (out["tuned_choices"]["share_same"] or 0) >= args.min_agreement)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
