"""Cells whose runs are bit-identical to another cell's, so that a result is counted once.

A method can reproduce another exactly: gradient clipping whose tuned threshold never clips
trains as plain cross-entropy, bit for bit. Two cells of one data set row are *identical* when
they have the same seeds and every last-epoch metric of every seed, on the test and validation
splits, is the same float. Such a cell repeats the first one in suite order: tables give it
that one's mark, and claims test it once (the repeat's comparison is listed, not counted).
"""

from __future__ import annotations

from lpg_meta.report.tidy import SPLITS, Results


def identical_cells(results: Results, ds: str, methods: list[str] | None = None) -> dict[str, str]:
    """``{method: the earlier method (suite order) it repeats}`` on data set row ``ds``."""
    rows = [m for m in (methods if methods is not None else results.layout.methods) if (ds, m) in results.present()]
    prints: dict[str, list[tuple]] = {}
    for (d, m, split, metric), by_seed in results.values.items():
        if d == ds and split in SPLITS:
            prints.setdefault(m, []).append((split, metric, tuple(sorted(by_seed.items()))))
    first: dict[tuple, str] = {}
    same: dict[str, str] = {}
    for m in rows:
        if m not in prints:
            continue
        key = tuple(sorted(prints[m]))
        if key in first:
            same[m] = first[key]
        else:
            first[key] = m
    return same
