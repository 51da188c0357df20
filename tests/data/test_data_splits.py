"""Splits are disjoint, point at the right samples, and are fixed by the seed."""

from __future__ import annotations

import random

import numpy as np
import torch
from sklearn.datasets import load_digits

from lpg_meta.data import DataBundle, build_data
from lpg_meta.data.mnist1d import _generate

LT_NOISY = {"imbalance": 10, "noise": "sym_incl", "noise_rate": 0.3, "meta_per_class": 5}


def _sets(b: DataBundle) -> dict[str, set[int]]:
    return {k: set(getattr(b, k).index.tolist()) for k in ("train", "meta", "val", "test")}


def test_disjoint_splits() -> None:
    for name, params in (("digits", LT_NOISY), ("mnist1d", {**LT_NOISY, "num_samples": 2000})):
        b = build_data(name, params, seed=0)
        sets = _sets(b)
        for k, s in sets.items():
            assert len(s) == len(getattr(b, k))  # no duplicates inside a split
        names = list(sets)
        for i, a in enumerate(names):
            for other in names[i + 1 :]:
                assert not sets[a] & sets[other], (name, a, other)


def test_index_points_at_the_sample() -> None:
    digits = load_digits()
    b = build_data("digits", LT_NOISY, seed=2)
    for split in (b.train, b.meta, b.val, b.test):
        idx = split.index.numpy()
        expected = torch.tensor(digits.data[idx] / 16.0, dtype=torch.float32).view(-1, 1, 8, 8)
        assert torch.equal(split.x, expected)
        assert np.array_equal(split.clean_y.numpy(), digits.target[idx])


def test_same_seed_same_splits_other_seed_other_splits() -> None:
    a = build_data("digits", LT_NOISY, seed=7)
    b = build_data("digits", LT_NOISY, seed=7)
    c = build_data("digits", LT_NOISY, seed=8)
    for k in ("train", "meta", "val"):
        sa, sb, sc = getattr(a, k), getattr(b, k), getattr(c, k)
        assert torch.equal(sa.index, sb.index) and torch.equal(sa.y, sb.y)
        assert not torch.equal(sa.index, sc.index)
    assert not torch.equal(a.train.y, c.train.y) or not torch.equal(a.train.index, c.train.index)
    # The test split never depends on the seed.
    assert torch.equal(a.test.index, c.test.index) and torch.equal(a.test.x, c.test.x)


def test_data_seed_overrides_run_seed() -> None:
    a = build_data("digits", {**LT_NOISY, "seed": 5}, seed=0)
    b = build_data("digits", {**LT_NOISY, "seed": 5}, seed=1)
    assert torch.equal(a.train.index, b.train.index) and torch.equal(a.train.y, b.train.y)
    assert a.settings["seed"] == 5


def test_meta_and_val_sizes() -> None:
    b = build_data("digits", {"meta_per_class": 3, "val_per_class": 4}, seed=0)
    assert b.meta.counts(10) == [3] * 10 and b.val.counts(10) == [4] * 10
    b = build_data("digits", {"meta_per_class": 6}, seed=0)
    assert b.val.counts(10) == [6] * 10  # val defaults to the meta size


def test_mnist1d_shape_and_test_pool() -> None:
    b = build_data("mnist1d", {"num_samples": 2000}, seed=0)
    assert b.input_shape == (1, 40) and b.train.x.shape[1:] == (1, 40)
    assert b.train.x.dtype == torch.float32 and b.train.y.dtype == torch.int64
    assert len(b.test) == 400 and b.test.index.min().item() == 1600
    assert b.mean is None and b.augment is None and b.default_model == "cnn1d"


def test_generator_leaves_global_rng_alone() -> None:
    np.random.seed(123)
    random.seed(123)
    expected_np, expected_py = np.random.rand(), random.random()
    np.random.seed(123)
    random.seed(123)
    _generate.__wrapped__(200, 3)  # uncached, so the generator really runs
    assert np.random.rand() == expected_np and random.random() == expected_py


def test_train_subset_keeps_the_examples_and_recounts() -> None:
    bundle = build_data("digits", LT_NOISY, 0)
    idx = torch.arange(0, len(bundle.train), 3)
    part = bundle.with_train_subset(idx)
    assert torch.equal(part.train.x, bundle.train.x[idx]) and torch.equal(part.train.y, bundle.train.y[idx])
    assert torch.equal(part.train.index, bundle.train.index[idx])
    assert torch.equal(part.train.clean_y, bundle.train.clean_y[idx])  # noise flags go with the examples
    assert part.train_counts == torch.bincount(bundle.train.y[idx], minlength=10).tolist()
    assert sum(part.train_counts) == len(idx) < sum(bundle.train_counts)
    assert part.meta is bundle.meta and part.val is bundle.val and part.test is bundle.test
