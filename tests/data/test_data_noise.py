"""Label noise: realised rates, flip directions, and clean meta / val / test labels."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lpg_meta.data import build_data
from lpg_meta.data.noise import transition_matrix

K, P = 10, 0.4
BASE = {"num_samples": 10000}
ASYM_MAP = {"3": 5, 5: 3, 9: 1, 2: 0}  # string keys as YAML / --set may give them


def expected_rate(kind: str, clean: torch.Tensor) -> float:
    if kind == "sym_incl":
        return P * (K - 1) / K
    if kind == "asym":
        mapped = torch.isin(clean, torch.tensor([3, 5, 9, 2]))
        return P * mapped.float().mean().item()
    return P


@pytest.mark.parametrize("kind", ["sym_incl", "sym_excl", "pair", "asym"])
def test_realised_rate_and_clean_splits(kind: str) -> None:
    params = {**BASE, "noise": kind, "noise_rate": P}
    if kind == "asym":
        params["noise_map"] = ASYM_MAP
    b = build_data("mnist1d", params, seed=0)
    tr = b.train
    e = expected_rate(kind, tr.clean_y)
    sigma = math.sqrt(e * (1 - e) / len(tr))
    assert abs(b.noise["realised_rate"] - e) <= 4 * sigma
    assert b.noise["expected_rate"] == pytest.approx(e)
    assert b.noise["realised_rate"] == pytest.approx((tr.y != tr.clean_y).float().mean().item())
    for split in (b.meta, b.val, b.test):
        assert torch.equal(split.y, split.clean_y)
    assert b.train_counts == torch.bincount(tr.y, minlength=K).tolist()
    t = np.asarray(b.noise["transition"])
    assert t.shape == (K, K) and np.allclose(t.sum(1), 1.0)


def test_flip_directions() -> None:
    pair = build_data("mnist1d", {**BASE, "noise": "pair", "noise_rate": P}, seed=1).train
    flipped = pair.y != pair.clean_y
    assert torch.equal(pair.y[flipped], (pair.clean_y[flipped] + 1) % K)

    asym = build_data(
        "mnist1d", {**BASE, "noise": "asym", "noise_rate": P, "noise_map": ASYM_MAP}, seed=1
    ).train
    flipped = asym.y != asym.clean_y
    mapping = {3: 5, 5: 3, 9: 1, 2: 0}
    assert flipped.any()
    for c, n in zip(asym.clean_y[flipped].tolist(), asym.y[flipped].tolist(), strict=True):
        assert mapping[c] == n

    excl = build_data("mnist1d", {**BASE, "noise": "sym_excl", "noise_rate": P}, seed=1).train
    flipped = excl.y != excl.clean_y
    # A uniform other label: every wrong class shows up for class 0.
    assert set(excl.y[flipped & (excl.clean_y == 0)].tolist()) == set(range(1, K))


def test_transition_matrices() -> None:
    t = transition_matrix("sym_incl", 0.5, 4)
    assert np.allclose(np.diag(t), 0.5 + 0.5 / 4) and np.allclose(t[0, 1], 0.125)
    t = transition_matrix("sym_excl", 0.6, 4)
    assert np.allclose(np.diag(t), 0.4) and np.allclose(t[0, 3], 0.2)
    t = transition_matrix("pair", 0.3, 3)
    assert np.allclose(t, [[0.7, 0.3, 0], [0, 0.7, 0.3], [0.3, 0, 0.7]])
    t = transition_matrix("asym", 0.3, 3, {0: 2})
    assert np.allclose(t, [[0.7, 0, 0.3], [0, 1, 0], [0, 0, 1]])


def test_noise_does_not_move_the_splits() -> None:
    clean = build_data("digits", {"imbalance": 5}, seed=4)
    noisy = build_data("digits", {"imbalance": 5, "noise": "sym_excl", "noise_rate": 0.3}, seed=4)
    for a, b in ((clean.train, noisy.train), (clean.meta, noisy.meta), (clean.val, noisy.val)):
        assert torch.equal(a.index, b.index) and torch.equal(a.clean_y, b.clean_y)
    assert not torch.equal(noisy.train.y, noisy.train.clean_y)


def test_no_noise() -> None:
    b = build_data("digits", {}, seed=0)
    assert b.noise["kind"] == "none" and b.noise["realised_rate"] == 0.0
    assert torch.equal(b.train.y, b.train.clean_y)
    assert np.allclose(b.noise["transition"], np.eye(10))


def test_per_class_rate_on_a_hand_case() -> None:
    from lpg_meta.data.noise import noise_record

    clean = np.array([0, 0, 0, 0, 1, 1, 2])
    noisy = np.array([0, 1, 1, 0, 1, 0, 2])  # class 0: 2 of 4 flipped, class 1: 1 of 2, class 2: 0
    rec = noise_record("sym_excl", 0.4, clean, noisy, np.eye(4))
    assert rec["per_class_rate"] == [0.5, 0.5, 0.0, None]  # class 3 has no samples
    # labelled 0: samples 0, 3, 5 (5 is a flipped 1); labelled 1: 1, 2 (flipped 0s) and 4
    assert rec["per_label_rate"] == [pytest.approx(1 / 3), pytest.approx(2 / 3), 0.0, None]
    assert rec["realised_rate"] == pytest.approx(3 / 7)
