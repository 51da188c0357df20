"""Meta-gradients: higher == torchfunc, and both == a finite difference of real look-ahead steps."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from lpg_testkit import FORM_CASES, build_problem, clone_pair, form_of, perturbed_ce

from lpg_meta.errors import UserError
from lpg_meta.lpg import BilevelStep, lookahead_meta_grad


def _meta_grad(case: str, backend: str, warm: int, steps: int = 1) -> torch.Tensor:
    model, optimizer, batch, meta_batch = build_problem(warm=warm)
    form = form_of(case)
    (grad,), _ = lookahead_meta_grad(
        model,
        optimizer,
        batch,
        meta_batch,
        perturbed_ce(form.transform),
        [form.phi],
        backend=backend,
        steps=steps,
    )
    return grad


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


@pytest.mark.parametrize("warm", [0, 2])  # 0: first step, no momentum buffer yet
@pytest.mark.parametrize("case", sorted(FORM_CASES))
def test_backends_agree(case: str, warm: int) -> None:
    g_higher = _meta_grad(case, "higher", warm)
    g_func = _meta_grad(case, "torchfunc", warm)
    assert g_higher.norm() > 1e-6  # a meaningful, non-zero meta-gradient
    assert _rel(g_func, g_higher) < 1e-8


def test_backends_agree_on_two_step_unrolls() -> None:
    g_higher = _meta_grad("matrix", "higher", 2, steps=2)
    g_func = _meta_grad("matrix", "torchfunc", 2, steps=2)
    assert _rel(g_func, g_higher) < 1e-8
    assert _rel(g_func, _meta_grad("matrix", "torchfunc", 2, steps=1)) > 1e-3


def _lookahead_loss(model, optimizer, batch, meta_batch, form, drop_state: bool = False) -> float:
    """Independent reference: a real optimizer step on copies, then the clean meta CE."""
    model, optimizer = clone_pair(model, optimizer)
    if drop_state:  # a known-wrong reference: momentum buffers forgotten
        optimizer.state.clear()
    (x, y), (x_m, y_m) = batch, meta_batch
    optimizer.zero_grad()
    perturbed_ce(form.frozen())(model(x), y).backward()
    optimizer.step()
    with torch.no_grad():
        return F.cross_entropy(model(x_m), y_m).item()


def _finite_difference(case: str, warm: int, h: float = 1e-6, drop_state: bool = False):
    model, optimizer, batch, meta_batch = build_problem(warm=warm)
    form = form_of(case)
    fd = torch.zeros_like(form.phi)
    for k in range(form.phi.numel()):
        values = []
        for sign in (1.0, -1.0):
            shifted = copy.deepcopy(form)
            with torch.no_grad():
                shifted.phi.view(-1)[k] += sign * h
            values.append(_lookahead_loss(model, optimizer, batch, meta_batch, shifted, drop_state))
        fd.view(-1)[k] = (values[0] - values[1]) / (2 * h)
    return fd


@pytest.mark.parametrize("warm", [0, 2])
@pytest.mark.parametrize("case", sorted(FORM_CASES))
def test_meta_grad_matches_finite_difference(case: str, warm: int) -> None:
    fd = _finite_difference(case, warm)
    for backend in ("higher", "torchfunc"):
        assert _rel(_meta_grad(case, backend, warm), fd) < 1e-6


def test_finite_difference_check_can_fail() -> None:
    """Forgetting the momentum buffer changes the look-ahead: the check would notice."""
    wrong = _finite_difference("matrix", warm=2, drop_state=True)
    assert _rel(_meta_grad("matrix", "torchfunc", 2), wrong) > 1e-3


def test_clip_case_mixes_clipped_and_unclipped_samples() -> None:
    model, _, (x, y), _ = build_problem()
    form = form_of("clip")
    g = torch.softmax(model(x), 1).detach() - F.one_hot(y, 3)
    tau = form.class_perturbation()[y]
    clipped = g.norm(dim=1) > tau
    assert clipped.any() and not clipped.all()


def test_torchfunc_refuses_non_sgd() -> None:
    model, _, batch, meta_batch = build_problem(warm=0)
    adam = torch.optim.Adam(model.parameters(), lr=1e-3)
    form = form_of("scale")
    with pytest.raises(UserError, match="torch.optim.SGD"):
        lookahead_meta_grad(
            model,
            adam,
            batch,
            meta_batch,
            perturbed_ce(form.transform),
            [form.phi],
            backend="torchfunc",
        )


def test_higher_handles_adam_inner_optimizer() -> None:
    model, _, batch, meta_batch = build_problem(warm=0)
    adam = torch.optim.Adam(model.parameters(), lr=1e-3)
    form = form_of("scale")
    (grad,), value = lookahead_meta_grad(
        model, adam, batch, meta_batch, perturbed_ce(form.transform), [form.phi]
    )
    assert torch.isfinite(grad).all() and value > 0


def test_bilevel_step_moves_phi_and_decays() -> None:
    model, optimizer, batch, meta_batch = build_problem()
    form = form_of("scale")
    before = form.phi.detach().clone()
    (grad,), _ = lookahead_meta_grad(
        model, optimizer, batch, meta_batch, perturbed_ce(form.transform), [form.phi]
    )
    BilevelStep(form, meta_optimizer="sgd", meta_lr=0.5, phi_decay=0.1).apply([grad])
    torch.testing.assert_close(form.phi.detach(), (before - 0.5 * grad) * 0.9, rtol=1e-12, atol=0)
    assert form.phi.grad is None
