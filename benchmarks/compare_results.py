"""Check that two result folders hold the same results: every ``result.json`` and every table.

For a refactoring that must not change behaviour: run the same suite (or runs) before and after
into two folders, then ``python benchmarks/compare_results.py BEFORE AFTER``. Each run's JSON
(``result.json``, tuning trials' ``trialNNN.json``) is compared exactly (floats bit for bit)
except for what describes the run rather than its outcome: ``provenance`` and ``timing``, and
wall-clock fields (``time_*_s``, ``seconds*``). Tables (``leaderboard.{md,csv,tex}``) are
compared byte for byte. Exits 1 and lists the differences if there are any.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

IGNORED_KEYS = frozenset({"provenance", "timing"})
TABLES = ("leaderboard.md", "leaderboard.csv", "leaderboard.tex")


def ignored(key: str) -> bool:
    """Whether ``key`` is a wall-clock measurement or describes the machine, not the result."""
    return key in IGNORED_KEYS or key.startswith("seconds") or (
        key.startswith("time_") and key.endswith("_s")
    )


def differences(a: Any, b: Any, where: str = "") -> list[str]:
    """The paths at which ``a`` and ``b`` differ (dict key order aside)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{where}/{k}: only in {'first' if k in a else 'second'}"
               for k in sorted(set(a) ^ set(b)) if not ignored(k)]
        for key in sorted(set(a) & set(b)):
            if not ignored(key):
                out += differences(a[key], b[key], f"{where}/{key}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{where}: length {len(a)} != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True))
                for d in differences(x, y, f"{where}[{i}]")]
    # repr compares floats bit for bit and tells 1 from 1.0 and nan from nan
    return [] if repr(a) == repr(b) and type(a) is type(b) else [f"{where}: {a!r} != {b!r}"]


def compare(first: Path, second: Path) -> tuple[int, int, list[str]]:
    """(JSON files compared, tables compared, differences) of two folders."""
    out: list[str] = []
    results = sorted(p.relative_to(first) for p in first.rglob("*.json"))
    others = sorted(p.relative_to(second) for p in second.rglob("*.json"))
    out += [f"{p}: only in {second}" for p in sorted(set(others) - set(results))]
    tables = 0
    for rel in results:
        if not (second / rel).exists():
            out.append(f"{rel}: only in {first}")
            continue
        a, b = (json.loads((root / rel).read_text()) for root in (first, second))
        out += [f"{rel}{d}" for d in differences(a, b)]
    for name in TABLES:
        for path in sorted(first.rglob(name)):
            rel = path.relative_to(first)
            tables += 1
            if not (second / rel).exists() or path.read_bytes() != (second / rel).read_bytes():
                out.append(f"{rel}: table differs")
    return len(results), tables, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    args = parser.parse_args()
    results, tables, diffs = compare(args.first, args.second)
    for line in diffs:
        print(line)
    print(f"{results} JSON files and {tables} tables compared: "
          f"{len(diffs)} difference(s)")
    return 1 if diffs or not results else 0


if __name__ == "__main__":
    sys.exit(main())
