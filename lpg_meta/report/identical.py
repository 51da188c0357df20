"""Cells whose runs are bit-identical to another cell's, so that a result is counted once.

A method can reproduce another exactly: gradient clipping whose tuned threshold never clips
trains as plain cross-entropy, bit for bit. Two cells of one data set row are *identical* when
they have the same seeds and every last-epoch metric of every seed, on the test and validation
splits, is the same float. Such a cell repeats the first one in suite order: tables give it
that one's mark, and claims test it once (the repeat's comparison is listed, not counted).
"""

from __future__ import annotations

from lpg_meta.report.tidy import SPLITS, Results


def _fingerprint(results: Results, ds: str, m: str) -> tuple | None:
    metrics = sorted((split, metric) for (d, row, split, metric) in results.values
                     if d == ds and row == m and split in SPLITS)
    if not metrics:
        return None
    return tuple((split, metric, tuple(sorted(results.get(ds, m, metric, split).items())))
                 for split, metric in metrics)


def identical_cells(results: Results, ds: str, methods: list[str] | None = None) -> dict[str, str]:
    """``{method: the earlier method (suite order) it repeats}`` on data set row ``ds``."""
    rows = [m for m in (methods if methods is not None else results.layout.methods) if (ds, m) in results.present()]
    first: dict[tuple, str] = {}
    same: dict[str, str] = {}
    for m in rows:
        key = _fingerprint(results, ds, m)
        if key is None:
            continue
        if key in first:
            same[m] = first[key]
        else:
            first[key] = m
    return same
