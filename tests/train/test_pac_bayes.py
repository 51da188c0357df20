"""The PAC-Bayes bound: its formulas against hand and brute-force values, and the trainer's block."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from lpg_meta.config import resolve_config
from lpg_meta.results import config_hash
from lpg_meta.train.pac_bayes import (
    SIGMA_GRID,
    binary_kl,
    choose_sigma,
    gaussian_kl,
    kl_inverse_upper,
    pac_bayes_bound,
    pac_bayes_kl_bound,
)
from lpg_meta.train.trainer import train


def test_binary_kl_hand_values():
    assert binary_kl(0.5, 0.5) == 0.0
    assert binary_kl(0.0, 0.5) == pytest.approx(math.log(2), rel=1e-12)  # ln(1 / 0.5)
    assert binary_kl(0.1, 0.3) == pytest.approx(0.1 * math.log(1 / 3) + 0.9 * math.log(0.9 / 0.7), rel=1e-12)
    assert binary_kl(0.2, 0.0) == math.inf


@pytest.mark.parametrize(("q", "c"), [(0.0, 0.01), (0.05, 0.02), (0.1, 0.3), (0.5, 0.05), (0.9, 0.001), (0.3, 5.0)])
def test_kl_inverse_matches_a_brute_force_search(q, c):
    step = 1e-5
    grid = np.minimum(np.arange(q, 1.0 + step / 2, step), 1.0)
    kl = np.array([binary_kl(q, p) for p in grid])
    brute = grid[kl <= c].max()  # the largest p on the grid with kl(q || p) <= c
    # the inverse lies between that grid point and the next: within one step of the search
    assert brute - 1e-12 <= kl_inverse_upper(q, c) <= brute + step
    assert binary_kl(q, kl_inverse_upper(q, c)) == pytest.approx(c, rel=1e-6) or kl_inverse_upper(q, c) == 1.0


def test_kl_inverse_rejects_bad_input():
    with pytest.raises(ValueError, match="q in"):
        kl_inverse_upper(1.5, 0.1)


def test_gaussian_kl_matches_the_closed_form():
    w, w0 = [torch.tensor([1.0, 2.0]), torch.tensor([[0.5]])], [torch.zeros(2), torch.tensor([[-0.5]])]
    # ||w - w0||^2 = 1 + 4 + 1 = 6; 2 sigma^2 = 0.5: 12 (by hand)
    assert gaussian_kl(w, w0, 0.5) == pytest.approx(12.0, rel=1e-12)
    normal = torch.distributions.Normal
    closed = sum(torch.distributions.kl_divergence(normal(a.double(), 0.5), normal(b.double(), 0.5)).sum()
                 for a, b in zip(w, w0, strict=True))
    assert gaussian_kl(w, w0, 0.5) == pytest.approx(float(closed), rel=1e-12)


def test_pac_bayes_kl_bound_by_hand():
    # kl(0.1 || e) <= (KL + ln(2 sqrt(n) / delta)) / n, here KL = 10, n = 1000, delta = 0.05
    c = (10 + math.log(2 * math.sqrt(1000) / 0.05)) / 1000
    bound = pac_bayes_kl_bound(0.1, 10.0, 1000, 0.05)
    assert binary_kl(0.1, bound) == pytest.approx(c, rel=1e-6) and bound > 0.1


@pytest.mark.parametrize(("step", "tolerance", "expected"), [(0.03, 0.1, 3), (0.03, 0.0, 0), (0.0, 0.1, 32),
                                                             (0.5, 0.1, 0)])
def test_choose_sigma_is_the_largest_index_within_the_tolerance(step, tolerance, expected):
    assert choose_sigma(lambda j: step * j, 33, tolerance) == expected


def test_choose_sigma_is_monotone_in_the_tolerance():
    rise = lambda j: (j / 32) ** 2  # noqa: E731  non-decreasing along the grid
    chosen = [choose_sigma(rise, 33, t) for t in np.linspace(0, 1, 41)]
    assert chosen == sorted(chosen) and chosen[0] < chosen[-1]


def separable(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two classes at x0 = -2 and x0 = +2 with unit noise in x1: separated by x0 = 0."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=gen)
    x = torch.stack([4.0 * y - 2.0, torch.randn(n, generator=gen)], dim=1)
    return x, y


def linear_model() -> tuple[nn.Linear, list[torch.Tensor]]:
    """w0: torch's initialisation under a fixed seed; w: a separating rule with margin (by hand)."""
    torch.manual_seed(0)
    model = nn.Linear(2, 2)
    w0 = [p.detach().clone() for p in model.parameters()]
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[-1.0, 0.0], [1.0, 0.0]]))
        model.bias.zero_()
    return model, w0


def test_bound_falls_as_n_grows_on_separable_data():
    model, w0 = linear_model()
    bounds = []
    for n in (100, 400, 1600):
        x, y = separable(n, seed=n)
        block = pac_bayes_bound(model, w0, x, y, seed=0)
        assert block["train_error"] == 0.0  # separable, and w separates it
        assert block["mc_train_error"] <= block["mc_train_error_upper"] <= block["bound"] <= 1.0
        bounds.append(block["bound"])
    assert bounds[0] > bounds[1] > bounds[2]
    assert bounds[2] < 0.5  # non-vacuous: KL is a few nats here, so KL / n is small


def test_sigma_chosen_on_a_model_grows_with_the_tolerance():
    model, w0 = linear_model()
    x, y = separable(400, seed=1)
    chosen = [pac_bayes_bound(model, w0, x, y, seed=0, tolerance=t)["sigma_index"] for t in (0.0, 0.05, 0.2, 0.45)]
    assert chosen == sorted(chosen) and chosen[0] < chosen[-1]


def test_bound_is_seeded_and_leaves_the_global_generators_alone():
    model, w0 = linear_model()
    x, y = separable(300, seed=2)
    state = torch.get_rng_state()
    a, b = pac_bayes_bound(model, w0, x, y, seed=5), pac_bayes_bound(model, w0, x, y, seed=5)
    assert torch.equal(state, torch.get_rng_state())
    assert {k: v for k, v in a.items() if k != "seconds"} == {k: v for k, v in b.items() if k != "seconds"}
    assert a["perturbed"] == {"parameters": 6, "tensors": 2, "buffers_not_perturbed": 0}
    assert a["sigma_grid"] == list(SIGMA_GRID) and a["sigma"] == SIGMA_GRID[a["sigma_index"]]


def tiny(pac_bayes: bool | None, **train_settings):
    raw = {"dataset": "mnist1d", "seed": 1, "data": {"num_samples": 600},
           "train": {"epochs": 2, "progress": "none", **train_settings}}
    if pac_bayes is not None:
        raw["train"]["pac_bayes"] = pac_bayes
    return resolve_config(raw)


def test_trainer_writes_the_block_only_when_on_and_reruns_give_the_same_numbers():
    off, on, again = train(tiny(False)), train(tiny(True)), train(tiny(True))
    assert "pac_bayes" not in off
    block = on["pac_bayes"]
    for key in ("bound", "kl", "sigma", "train_error", "mc_train_error", "mc_train_error_upper", "n", "delta",
                "mc_samples", "sigma_grid", "test_error", "perturbed", "seconds"):
        assert key in block, key
    assert 0.0 <= block["bound"] <= 1.0 and block["n"] == on["data"]["sizes"]["train"]
    assert block["test_error"] == on["metrics"]["test"]["error"]
    # BatchNorm's affine weights are parameters; its running statistics are not
    assert block["perturbed"]["buffers_not_perturbed"] > 0
    drop = lambda b: {k: v for k, v in b.items() if k != "seconds"}  # noqa: E731
    assert drop(block) == drop(again["pac_bayes"])
    # its own generators: the training itself is the run without the bound
    assert on["history"] == off["history"] and on["metrics"] == off["metrics"]


def test_a_resumed_run_rebuilds_the_same_initial_weights(tmp_path):
    cfg = tiny(True, checkpoint_budget=None, keep_checkpoints=True)
    first = train(cfg, out_dir=tmp_path)
    (tmp_path / "result.json").unlink()  # the checkpoint after the last epoch stays
    resumed = train(cfg, out_dir=tmp_path)
    drop = lambda b: {k: v for k, v in b.items() if k != "seconds"}  # noqa: E731
    assert drop(resumed["pac_bayes"]) == drop(first["pac_bayes"])


def test_the_setting_off_keeps_the_config_and_its_hash():
    before = tiny(None)
    assert tiny(False) == before and "pac_bayes" not in before["train"]
    assert config_hash(tiny(False)) == config_hash(before)
    assert config_hash(tiny(True)) != config_hash(before)  # the result differs: a block more
