"""Which claims' verdicts moved between two runs of a suite.

Reads two ``claims.csv`` files (``lpg-meta claims``) and writes a Markdown list of every comparison
whose verdict differs, with both mean differences and p-values, and the protocol lines of both.

    python benchmarks/studies/verdict_moves.py BEFORE/claims.csv AFTER/claims.csv > moves.md
"""

from __future__ import annotations

import argparse
import csv
from collections import Counter
from pathlib import Path


def load(path: Path) -> dict[tuple[str, str, str], dict[str, str]]:
    """The comparisons of a claims.csv, keyed by (dataset, method, baseline)."""
    with path.open() as f:
        return {(r["dataset"], r["method"], r["baseline"]): r for r in csv.DictReader(f)}


def _cell(row: dict[str, str] | None) -> str:
    if row is None:
        return "–"
    return f"{row['verdict']} ({100 * float(row['mean_diff']):+.2f}, p {float(row['p_value']):.3g}, n {row['n']})"


def moves(before: Path, after: Path) -> str:
    """The Markdown report of the verdicts that differ."""
    old, new = load(before), load(after)
    keys = sorted(set(old) | set(new))
    moved = [k for k in keys if (old.get(k) or {}).get("verdict") != (new.get(k) or {}).get("verdict")]
    counts = Counter(((old.get(k) or {}).get("verdict"), (new.get(k) or {}).get("verdict")) for k in moved)
    lines = [f"# Verdicts that moved: {before} -> {after}", "",
             f"{len(moved)} of {len(keys)} comparisons (Δ in points of last-epoch test balanced accuracy):", ""]
    lines += [f"- {a} -> {b}: {n}" for (a, b), n in counts.most_common()]
    lines += ["", "| data set | method | baseline | before | after |", "|---|---|---|---|---|"]
    lines += [f"| {d} | {m} | {b} | {_cell(old.get((d, m, b)))} | {_cell(new.get((d, m, b)))} |" for d, m, b in moved]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    args = parser.parse_args()
    print(moves(args.before, args.after), end="")


if __name__ == "__main__":
    main()
