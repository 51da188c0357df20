"""The collapse detector: a run whose accuracy fell far below its own best and stayed there.

Defined once, here, for the trainer (``result.json``'s ``collapse``) and the report (tables
count collapsed seeds as they count diverged ones). Pure Python: no torch, no training code.

Definition: over the per-epoch test balanced accuracy, a run has *collapsed* when its last
epoch ends more than ``COLLAPSE_DROP`` (20 points) below its best epoch. A dip that climbs back
to within 20 points of the best by the last epoch is not a collapse. The threshold sits above
what plain CE's memorization of label noise costs on the suite's noisy rows (peak minus last
epoch: 7.5 to 14.7 points per seed, benchmarks/cpu.yaml) and below the collapses seen in LPG
(``lpg`` on ``mnist1d_pair`` seed 2: 65 -> 40, 25 points), so it separates the two.
It does not ask how fast the fall was: a steady decline of more than 20 points is flagged too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

COLLAPSE_DROP = 0.20  # in accuracy units (0..1): 20 points
COLLAPSE_METRIC = "test_balanced_accuracy"  # the per-epoch history key the detector reads


def detect_collapse(curve: Sequence[float | None], drop: float = COLLAPSE_DROP) -> dict[str, Any]:
    """Whether a per-epoch accuracy curve (0..1) collapsed, and where.

    Args:
        curve: one value per epoch; None or non-finite entries are skipped.
        drop: how far below the best epoch the last one must end to count.

    Returns:
        ``collapsed`` (bool), ``best`` and ``best_epoch`` (1-based), ``last``, ``drop`` (best - last)
        and ``onset_epoch``: the first epoch from which every later epoch stays more than ``drop``
        below the best so far (None when not collapsed). All None but ``collapsed`` for an empty curve.
    """
    points = [(i + 1, float(v)) for i, v in enumerate(curve)
              if isinstance(v, (int, float)) and math.isfinite(v)]
    if not points:
        return {"collapsed": False, "best": None, "best_epoch": None, "last": None, "drop": None,
                "onset_epoch": None, "threshold": drop}
    best_epoch, best = max(points, key=lambda p: (p[1], -p[0]))  # the earliest epoch of the best value
    last = points[-1][1]
    collapsed = best - last > drop
    onset = None
    if collapsed:
        running, below = -math.inf, []
        for epoch, value in points:
            running = max(running, value)
            below.append((epoch, value < running - drop))
        onset = points[-1][0]
        for epoch, is_below in reversed(below):  # walk back while the run stays fallen
            if not is_below:
                break
            onset = epoch
    return {"collapsed": collapsed, "best": best, "best_epoch": best_epoch, "last": last,
            "drop": best - last, "onset_epoch": onset, "threshold": drop}


def history_collapse(history: Sequence[Mapping[str, Any]], drop: float = COLLAPSE_DROP) -> dict[str, Any]:
    """``detect_collapse`` of a result's per-epoch ``history`` (its ``test_balanced_accuracy``)."""
    return detect_collapse([h.get(COLLAPSE_METRIC) for h in history], drop)
