"""The perturbation forms of docs/method.md §3.1 on hand-computed cases."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from lpg_testkit import build_problem, make_form, perturbed_ce

from lpg_meta.lpg import ClipForm, MatrixForm, ScaleForm, ShiftForm, build_form

G = torch.tensor([[3.0, -4.0, 1.0], [0.3, 0.0, -0.4], [-0.6, 0.8, 0.0]], dtype=torch.float64)
Y = torch.tensor([0, 1, 2])


def _set_phi(form, values) -> None:
    with torch.no_grad():
        form.phi.copy_(torch.as_tensor(values, dtype=torch.float64))


def test_shift_changes_per_sample_norm_by_a_y() -> None:
    form = ShiftForm(3, eps=0.5).double()
    # a = 0.5 * tanh(phi) = [0.3, -0.2, -0.45]
    _set_phi(form, [math.atanh(0.6), math.atanh(-0.4), math.atanh(-0.9)])
    g = torch.tensor([[3.0, 4.0, 0.0], [0.3, 0.0, -0.4], [0.1, -0.2, 0.2]], dtype=torch.float64)
    out = form.transform(g, Y)
    # norms 5, 0.5, 0.3 -> 5.3, 0.3, max(0, -0.15) = 0; directions kept
    torch.testing.assert_close(out.norm(dim=1), torch.tensor([5.3, 0.3, 0.0], dtype=torch.float64))
    torch.testing.assert_close(out[0], g[0] * 5.3 / 5.0)
    assert out[2].norm() < 1e-10  # shrunk to (numerically) nothing, not reversed


def test_clip_caps_per_sample_norm_at_tau_y() -> None:
    form = ClipForm(3, tau_max=2.0).double()  # phi = 0: tau = 1 for every class
    _set_phi(form, [0.0, 0.0, math.log(0.2 / 1.8)])  # tau_2 = 2 * sigmoid(.) = 0.2
    out = form.transform(G, Y)
    # norms sqrt(26), 0.5, 1.0 -> 1, 0.5 (kept), 0.2
    torch.testing.assert_close(out.norm(dim=1), torch.tensor([1.0, 0.5, 0.2], dtype=torch.float64))
    assert torch.equal(out[1], G[1])
    torch.testing.assert_close(out[0], G[0] / math.sqrt(26.0))
    torch.testing.assert_close(
        form.class_perturbation(), torch.tensor([1.0, 1.0, 0.2], dtype=torch.float64)
    )


def test_shift_and_clip_act_per_sample_not_on_the_batch_mean() -> None:
    """Through perturb_logit_grad, the logit gradient is g~ / B, with g~ from per-sample g."""
    logits = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 1, 2, 0])
    g = (torch.softmax(logits, 1) - F.one_hot(y, 3)).detach()
    for form in (ShiftForm(3, eps=0.5).double(), ClipForm(3, tau_max=1.0).double()):
        _set_phi(form, [0.3, -0.5, 0.9])
        (grad,) = torch.autograd.grad(perturbed_ce(form.transform)(logits, y), logits)
        torch.testing.assert_close(grad, form.transform(g, y) / 4)
        assert not torch.allclose(grad, form.transform(g / 4, y))  # the wrong reading differs


@pytest.mark.parametrize(
    "form",
    [
        ScaleForm(3, eps=0.9),
        ScaleForm(3, eps=0.9, normalize=False),
        ShiftForm(3, eps=0.9),
        MatrixForm(3, eps=0.9),
        MatrixForm(3, eps=0.9, normalize=False, zero_sum=False),
    ],
)
def test_phi_zero_is_exactly_the_identity(form) -> None:
    g = torch.randn(16, 3, dtype=torch.float64) * 1.7 + 0.3  # not zero-sum: any base loss
    y = torch.arange(16) % 3
    assert torch.equal(form.double().transform(g, y), g)


def test_scale_without_normalize_is_class_reweighting() -> None:
    model, _, (x, y), _ = build_problem(warm=0)
    form = make_form("scale", eps=0.7, normalize=False)
    a = form.class_perturbation()
    params = list(model.parameters())
    ours = torch.autograd.grad(perturbed_ce(form.frozen())(model(x), y), params)
    per_sample = F.cross_entropy(model(x), y, reduction="none")
    reference = torch.autograd.grad(((1 + a[y]) * per_sample).mean(), params, retain_graph=True)
    wrong = torch.autograd.grad(((1 + a[(y + 1) % 3]) * per_sample).mean(), params)
    for o, r in zip(ours, reference, strict=True):
        torch.testing.assert_close(o, r, rtol=1e-12, atol=1e-14)
    assert any(not torch.allclose(o, w) for o, w in zip(ours, wrong, strict=True))


def test_normalize_keeps_the_true_logit_multipliers_at_mean_one() -> None:
    g = torch.randn(12, 3, dtype=torch.float64)
    y = torch.arange(12) % 3
    scale = make_form("scale", eps=0.8)
    mult = scale.transform(g, y)[:, 0] / g[:, 0]
    torch.testing.assert_close(mult.mean(), torch.tensor(1.0, dtype=torch.float64))
    matrix = make_form("matrix", eps=0.8, zero_sum=False)
    mult = (matrix.transform(g, y) / g).gather(1, y.unsqueeze(1))
    torch.testing.assert_close(mult.mean(), torch.tensor(1.0, dtype=torch.float64))


def test_matrix_zero_sum_adds_nothing_along_all_ones() -> None:
    g = torch.randn(12, 3, dtype=torch.float64)  # deliberately not zero-sum
    y = torch.arange(12) % 3
    form = make_form("matrix", eps=0.8)
    delta = form.transform(g, y) - g
    torch.testing.assert_close(delta.sum(dim=1), torch.zeros(12, dtype=torch.float64))
    off = make_form("matrix", eps=0.8, zero_sum=False)
    assert delta.sum(dim=1).abs().max() < 1e-12 < (off.transform(g, y) - g).sum(dim=1).abs().max()


def test_matrix_with_constant_rows_is_scale_for_ce() -> None:
    logits = torch.randn(9, 3, dtype=torch.float64)
    y = torch.arange(9) % 3
    g = torch.softmax(logits, 1) - F.one_hot(y, 3)  # CE gradients sum to zero
    phi = torch.tensor([0.4, -1.1, 0.7], dtype=torch.float64)
    scale = build_form("scale", 3, eps=0.6).double()
    matrix = build_form("matrix", 3, eps=0.6).double()
    _set_phi(scale, phi)
    _set_phi(matrix, phi.unsqueeze(1).expand(3, 3))
    torch.testing.assert_close(
        matrix.transform(g, y), scale.transform(g, y), rtol=1e-12, atol=1e-15
    )
    torch.testing.assert_close(matrix.class_perturbation(), scale.class_perturbation())
    assert matrix.perturbation_matrix().shape == (3, 3)


def test_eps_bounds_the_perturbation() -> None:
    form = ScaleForm(3, eps=0.3).double()
    _set_phi(form, [50.0, -50.0, 0.0])
    torch.testing.assert_close(
        form.class_perturbation(), torch.tensor([0.3, -0.3, 0.0], dtype=torch.float64)
    )
