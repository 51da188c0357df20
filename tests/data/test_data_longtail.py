"""Long-tail counts follow the exp / step formulas of docs/method.md §5."""

from __future__ import annotations

import numpy as np
import pytest

from lpg_meta.data import build_data
from lpg_meta.data.mnist1d import _generate
from lpg_meta.data.splits import long_tail_counts
from lpg_meta.errors import UserError

MNIST1D = {"num_samples": 10000}


def test_exp_hand_computed() -> None:
    # 100 * 10^(-1/2) = 31.6 -> 31; 100 * 10^(-1) = 10.
    assert long_tail_counts(100, 10.0, 3, "exp") == [100, 31, 10]


def test_step_hand_computed() -> None:
    assert long_tail_counts(100, 10.0, 4, "step") == [100, 100, 10, 10]
    assert long_tail_counts(100, 10.0, 3, "step") == [100, 10, 10]  # first C // 2 keep n_max


def test_ldam_cifar_counts() -> None:
    # CIFAR-10-LT at rho=100 from the LDAM-DRW protocol: 5000 ... 50, 12,406 images in all.
    counts = long_tail_counts(5000, 100.0, 10, "exp")
    assert counts[0] == 5000 and counts[-1] == 50 and sum(counts) == 12406


def test_balanced_is_flat() -> None:
    assert long_tail_counts(7, 1.0, 5, "exp") == [7] * 5
    assert long_tail_counts(7, 1.0, 5, "step") == [7] * 5


def test_mnist1d_imbalance_100() -> None:
    b = build_data("mnist1d", {**MNIST1D, "imbalance": 100}, seed=0)
    n_max = b.settings["n_max"]
    expected = [int(n_max * 100 ** (-c / 9)) for c in range(10)]
    assert b.train_counts == expected == b.target_counts
    assert expected[0] / expected[-1] >= 100
    assert b.meta.counts(10) == [10] * 10 and b.val.counts(10) == [10] * 10
    # n_max defaults to the smallest per-class count left after meta and val.
    pool_y = _generate(10000, 42)[1]
    assert n_max == int(np.bincount(pool_y).min()) - 20


def test_digits_step_profile() -> None:
    b = build_data("digits", {"imbalance": 10, "profile": "step", "n_max": 80}, seed=3)
    assert b.train_counts == [80] * 5 + [8] * 5


def test_cap_at_availability() -> None:
    b = build_data("digits", {"n_max": 1000, "meta_per_class": 5}, seed=0)
    assert b.target_counts == [1000] * 10
    assert all(95 < n < 1000 for n in b.train_counts)  # capped: everything left was taken


def test_empty_class_is_a_user_error() -> None:
    with pytest.raises(UserError, match="data.imbalance"):
        build_data("digits", {"imbalance": 1000, "n_max": 50}, seed=0)
