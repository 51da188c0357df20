"""The virtual step leaves the real model, optimizer state, BN statistics and RNG untouched."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from lpg_testkit import build_problem, form_of, perturbed_ce
from torch import nn

from lpg_meta.lpg import lookahead_meta_grad


def _snapshot(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    return {
        "params": [p.detach().clone() for p in model.parameters()],
        "grads": [None if p.grad is None else p.grad.clone() for p in model.parameters()],
        "buffers": [b.clone() for b in model.buffers()],
        "opt": copy.deepcopy(optimizer.state_dict()),
        "rng": torch.get_rng_state(),
    }


def _assert_same(a: dict, b: dict) -> None:
    for x, y in zip(a["params"] + a["buffers"], b["params"] + b["buffers"], strict=True):
        assert torch.equal(x, y)
    for x, y in zip(a["grads"], b["grads"], strict=True):
        assert (x is None and y is None) or torch.equal(x, y)
    assert a["opt"]["param_groups"] == b["opt"]["param_groups"]
    assert a["opt"]["state"].keys() == b["opt"]["state"].keys()
    for k, state in a["opt"]["state"].items():
        assert state.keys() == b["opt"]["state"][k].keys()
        for name, value in state.items():
            other = b["opt"]["state"][k][name]
            assert torch.equal(value, other) if torch.is_tensor(value) else value == other
    assert torch.equal(a["rng"], b["rng"])


@pytest.mark.parametrize("backend", ["higher", "torchfunc"])
@pytest.mark.parametrize("warm", [0, 2])
def test_virtual_step_changes_nothing_real(backend: str, warm: int) -> None:
    model, optimizer, batch, meta_batch = build_problem(warm=warm)
    model.add_module("drop", nn.Dropout(0.2))  # consumes RNG in the virtual forwards
    before = _snapshot(model, optimizer)
    form = form_of("matrix")
    lookahead_meta_grad(
        model,
        optimizer,
        batch,
        meta_batch,
        perturbed_ce(form.transform),
        [form.phi],
        backend=backend,
        steps=2,
    )
    _assert_same(before, _snapshot(model, optimizer))


def test_adam_inner_optimizer_state_untouched_by_higher() -> None:
    model, _, batch, meta_batch = build_problem(warm=0)
    adam = torch.optim.Adam(model.parameters(), lr=1e-3)
    adam.zero_grad()
    F.cross_entropy(model(batch[0]), batch[1]).backward()
    adam.step()  # now Adam holds step counts and moments
    before = _snapshot(model, adam)
    form = form_of("scale")
    lookahead_meta_grad(model, adam, batch, meta_batch, perturbed_ce(form.transform), [form.phi])
    _assert_same(before, _snapshot(model, adam))


def test_state_check_can_fail() -> None:
    """A plain train-mode forward does move BN statistics, so the check above is not vacuous."""
    model, optimizer, batch, _ = build_problem()
    before = _snapshot(model, optimizer)
    model(batch[0])
    with pytest.raises(AssertionError):
        _assert_same(before, _snapshot(model, optimizer))
