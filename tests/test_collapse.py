"""The collapse detector on hand-made accuracy curves (lpg_meta/collapse.py)."""

from __future__ import annotations

import math

import pytest

from lpg_meta.collapse import COLLAPSE_DROP, detect_collapse, history_collapse

# A real run, seed 2 of lpg on mnist1d_pair (test accuracy per epoch, 20 epochs): best 0.65 at
# epoch 3, fell to 0.14 at epoch 10 and ended at 0.40 (the record we had elides epochs 13-19; filled
# here with a slow climb).
ISSUE_SEED2 = [0.44, 0.52, 0.65, 0.55, 0.60, 0.58, 0.61, 0.39, 0.56, 0.14, 0.29, 0.34,
               0.36, 0.37, 0.38, 0.38, 0.39, 0.39, 0.40, 0.40]


def test_flags_a_collapse_that_does_not_recover():
    out = detect_collapse(ISSUE_SEED2)
    assert out["collapsed"] is True
    assert (out["best"], out["best_epoch"], out["last"]) == (0.65, 3, 0.40)
    assert out["drop"] == pytest.approx(0.25)
    # Epoch 8 (0.39) is also > 20 points below the best, but epoch 9 (0.56) climbs back.
    assert out["onset_epoch"] == 10


def test_dip_that_recovers_is_not_a_collapse():
    # That run family.s seed 1 dipped to 0.27 and ended at 0.655.
    curve = [0.45, 0.60, 0.66, 0.62, 0.27, 0.50, 0.60, 0.64, 0.655]
    out = detect_collapse(curve)
    assert out["collapsed"] is False and out["onset_epoch"] is None
    assert out["drop"] == pytest.approx(0.66 - 0.655)


def test_monotone_decline_below_the_threshold_is_not_a_collapse():
    # CE memorizing pair noise: 66.9 at its peak, 56.5 at the end (10.4 points).
    curve = [0.50, 0.60, 0.669, 0.65, 0.63, 0.61, 0.59, 0.575, 0.565]
    assert detect_collapse(curve)["collapsed"] is False


def test_the_threshold_is_strict_and_adjustable():
    assert detect_collapse([0.5, 0.3])["collapsed"] is False  # exactly 20 points: not more than
    assert detect_collapse([0.5, 0.29])["collapsed"] is True
    assert detect_collapse([0.5, 0.4], drop=0.05)["collapsed"] is True
    assert COLLAPSE_DROP == 0.20


def test_a_fall_at_the_last_epoch_has_its_onset_there():
    out = detect_collapse([0.3, 0.7, 0.72, 0.1])
    assert out["collapsed"] and out["onset_epoch"] == 4 and out["best_epoch"] == 3


def test_missing_and_non_finite_values_are_skipped():
    assert detect_collapse([]) == {"collapsed": False, "best": None, "best_epoch": None, "last": None,
                                   "drop": None, "onset_epoch": None, "threshold": COLLAPSE_DROP}
    out = detect_collapse([0.6, None, math.nan, 0.2])
    assert out["collapsed"] and out["best_epoch"] == 1 and out["onset_epoch"] == 4


def test_history_collapse_reads_the_test_balanced_accuracy():
    history = [{"epoch": i + 1, "test_accuracy": 0.9, "test_balanced_accuracy": v}
               for i, v in enumerate(ISSUE_SEED2)]
    assert history_collapse(history) == detect_collapse(ISSUE_SEED2)
    assert history_collapse([{"test_accuracy": 0.1}])["collapsed"] is False
