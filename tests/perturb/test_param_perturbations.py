"""Parameter-level perturbations reproduce their references (docs/method.md §2)."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lpg_meta.methods import METHODS, StepInfo, TrainContext, build_method
from lpg_meta.perturb.param import (
    add_gradient_noise,
    bn_running_stats_frozen,
    clip_grad_norm,
    noise_std,
    sam_perturb,
    sam_restore,
)

CTX = TrainContext(num_classes=3, class_counts=[8, 8, 8], epochs=1, steps_per_epoch=4)
STEP = StepInfo(epoch=0, step=0, steps_per_epoch=4, epochs=1)


def small_net(dtype: torch.dtype = torch.float32, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3)).to(dtype)


def batch(dtype: torch.dtype = torch.float32, seed: int = 1, n: int = 6):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g, dtype=dtype)
    y = torch.randint(0, 3, (n,), generator=g)
    return x, y


def with_grads(model: nn.Module, scale: float = 1.0) -> nn.Module:
    x, y = batch()
    model.zero_grad()
    (scale * F.cross_entropy(model(x), y)).backward()
    return model


def clone_with_grads(model: nn.Module) -> nn.Module:
    """A deep copy that keeps the ``.grad`` of each parameter (``copy.deepcopy`` drops them)."""
    twin = copy.deepcopy(model)
    for p, q in zip(model.parameters(), twin.parameters(), strict=True):
        q.grad = None if p.grad is None else p.grad.clone()
    return twin


def grads(model: nn.Module) -> list[torch.Tensor]:
    return [p.grad.clone() for p in model.parameters()]


# --------------------------------------------------------------------------- clipping


def test_clip_hand_case():
    p = torch.zeros(2, requires_grad=True)
    p.grad = torch.tensor([3.0, 4.0])  # ||G|| = 5
    norm = clip_grad_norm([p], max_norm=1.0)
    assert norm.item() == pytest.approx(5.0)
    torch.testing.assert_close(p.grad, torch.tensor([3.0, 4.0]) / (5.0 + 1e-6))


@pytest.mark.parametrize("factor", [0.1, 10.0], ids=["above_threshold", "below_threshold"])
def test_clip_equals_torch_clip_grad_norm(factor):
    ours = with_grads(small_net(), scale=3.0)
    ref = clone_with_grads(ours)
    total = torch.linalg.vector_norm(torch.cat([g.flatten() for g in grads(ours)]))
    max_norm = factor * total.item()

    norm_ours = clip_grad_norm(ours.parameters(), max_norm)
    norm_ref = torch.nn.utils.clip_grad_norm_(ref.parameters(), max_norm)

    assert torch.equal(norm_ours, norm_ref)
    for a, b in zip(grads(ours), grads(ref), strict=True):
        assert torch.equal(a, b)
    clipped = torch.linalg.vector_norm(torch.cat([g.flatten() for g in grads(ours)]))
    # A float32 sum of n squares is within n * eps (relative) of exact in any summation order,
    # so on any CPU's kernels; clipping divides by the norm + 1e-6, which adds 1e-6 / norm.
    rounding = sum(g.numel() for g in grads(ours)) * torch.finfo(torch.float32).eps
    if factor < 1:
        assert clipped.item() == pytest.approx(max_norm, rel=rounding + 1e-6 / total.item())
    else:
        assert clipped.item() == pytest.approx(total.item(), rel=rounding)


def test_clip_skips_parameters_without_grad():
    model = with_grads(small_net())
    model[0].weight.grad = None
    ref = clone_with_grads(model)
    n1 = clip_grad_norm(model.parameters(), 0.01)
    n2 = torch.nn.utils.clip_grad_norm_(ref.parameters(), 0.01)
    assert torch.equal(n1, n2)
    assert model[0].weight.grad is None
    for a, b in zip(model.parameters(), ref.parameters(), strict=True):
        if a.grad is not None:
            assert torch.equal(a.grad, b.grad)


# --------------------------------------------------------------------------- gradient noise


def test_noise_std_hand_values():
    # t = 0: sigma = sqrt(eta).
    assert noise_std(0, 0.01) == pytest.approx(0.1, abs=1e-12)
    assert noise_std(0, 0.3) == pytest.approx(0.547723, abs=1e-6)
    # t = 10, eta = 1, gamma = 0.55: sigma = 11 ** -0.275 = exp(-0.275 * 2.397895) = 0.517151
    assert noise_std(10, 1.0, 0.55) == pytest.approx(0.517151, abs=1e-6)
    # t = 10, eta = 0.01: ten times smaller
    assert noise_std(10, 0.01, 0.55) == pytest.approx(0.0517151, abs=1e-7)


@pytest.mark.parametrize("t,eta", [(0, 0.01), (10, 1.0), (99, 0.3)])
def test_noise_equals_seeded_reference(t, eta):
    model = with_grads(small_net())
    before = grads(model)
    sigma = add_gradient_noise(
        model.parameters(), t, eta, gamma=0.55, generator=torch.Generator().manual_seed(123)
    )
    assert sigma == pytest.approx(math.sqrt(eta / (1 + t) ** 0.55), rel=1e-12)

    gen = torch.Generator().manual_seed(123)
    expected = [
        g + math.sqrt(eta / (1 + t) ** 0.55) * torch.randn(g.shape, generator=gen) for g in before
    ]
    for got, want in zip(grads(model), expected, strict=True):
        # A product and a sum in float32: two roundings (2 eps = 2.4e-7), whatever the kernel.
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-7)


def test_noise_has_the_scheduled_variance():
    p = torch.zeros(200_000, requires_grad=True)
    p.grad = torch.zeros_like(p)
    add_gradient_noise([p], 10, 1.0, 0.55, generator=torch.Generator().manual_seed(0))
    # Sampling error with n = 200,000 draws: the std's relative standard error is 1/sqrt(2n) =
    # 0.0016 (0.01 is 6 of them), the mean's standard error 0.517/sqrt(n) = 0.0012 (0.01 is 8).
    assert p.grad.std().item() == pytest.approx(0.517151, rel=0.01)
    assert abs(p.grad.mean().item()) < 0.01


def test_gnoise_method_clips_then_noises():
    model = with_grads(small_net(), scale=5.0)
    ref = clone_with_grads(model)
    torch.manual_seed(7)
    method = build_method("gnoise", {"eta": 0.3, "max_norm": 0.5}, CTX)
    method.setup(model, torch.optim.SGD(model.parameters(), lr=0.1))
    step = StepInfo(epoch=0, step=10, steps_per_epoch=4, epochs=1)
    method.before_update(model, step)

    torch.nn.utils.clip_grad_norm_(ref.parameters(), 0.5)
    from lpg_meta.methods.gnoise import noise_seed

    torch.manual_seed(7)
    gen = torch.Generator().manual_seed(noise_seed())
    sigma = math.sqrt(0.3 / 11**0.55)
    for p, q in zip(model.parameters(), ref.parameters(), strict=True):
        want = q.grad + sigma * torch.randn(q.shape, generator=gen)
        torch.testing.assert_close(p.grad, want, rtol=1e-6, atol=1e-7)  # two roundings, as above


def test_gnoise_is_reproducible_from_the_run_seed():
    out = []
    for _ in range(2):
        model = with_grads(small_net())
        torch.manual_seed(3)
        method = build_method("gnoise", {"eta": 1.0}, CTX)
        method.setup(model, torch.optim.SGD(model.parameters(), lr=0.1))
        method.before_update(model, STEP)
        method.before_update(model, STEP)
        out.append(grads(model))
    for a, b in zip(*out, strict=True):
        assert torch.equal(a, b)


# --------------------------------------------------------------------------- SAM helpers


def test_sam_perturb_moves_by_rho_and_restores_exactly():
    model = with_grads(small_net())
    original = [p.detach().clone() for p in model.parameters()]
    g = grads(model)
    gnorm = torch.linalg.vector_norm(torch.cat([t.flatten() for t in g]))

    e_ws = sam_perturb(model.parameters(), rho=0.05)
    assert len(e_ws) == len(original)
    offset = torch.cat([e.flatten() for e in e_ws])
    # rho * g / ||g|| has norm rho up to the float32 error of two norms (SAM's and this one),
    # each within n * eps relative in any summation order.
    rounding = 2 * offset.numel() * torch.finfo(torch.float32).eps
    assert torch.linalg.vector_norm(offset).item() == pytest.approx(0.05, rel=rounding)
    for p, p0, gi, e in zip(model.parameters(), original, g, e_ws, strict=True):
        torch.testing.assert_close(e, 0.05 * gi / (gnorm + 1e-12))
        torch.testing.assert_close(p.detach(), p0 + e)

    sam_restore(list(model.parameters()), e_ws)
    for p, p0 in zip(model.parameters(), original, strict=True):
        assert torch.equal(p.detach(), p0)


def test_sam_restore_from_plain_offsets_subtracts():
    p = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    p.grad = torch.tensor([0.0, 2.0])  # ||G|| = 2
    e_ws = sam_perturb([p], rho=0.5)
    torch.testing.assert_close(p.detach(), torch.tensor([1.0, 2.5]))
    sam_restore([p], list(e_ws))  # a plain list: theta - e_w
    torch.testing.assert_close(p.detach(), torch.tensor([1.0, 2.0]))


@pytest.mark.parametrize("momentum", [0.1, None])
def test_bn_running_stats_frozen_leaves_buffers_unchanged(momentum):
    model = small_net()
    model[1].momentum = momentum
    x, _ = batch()
    model(x)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with bn_running_stats_frozen(model):
        out_frozen = model(x)
        model(2 * x)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    # Inside the block the forward still normalises with batch statistics (training mode).
    torch.testing.assert_close(out_frozen, model(x))


# --------------------------------------------------------------------------- the SAM step


def explicit_sam_step(model, opt, x, y, rho, loss_fn=F.cross_entropy):
    """Foret et al. 2021 written out: the ascent-point gradient is taken on a separate copy."""
    opt.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    g = [p.grad.detach().clone() for p in model.parameters()]
    gnorm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t) for t in g]))
    noised = copy.deepcopy(model)  # BN buffers of the copy are thrown away with it
    with torch.no_grad():
        for q, gi in zip(noised.parameters(), g, strict=True):
            q.add_(rho / (gnorm + 1e-12) * gi)
    noised.zero_grad()
    loss_fn(noised(x), y).backward()
    for p, q in zip(model.parameters(), noised.parameters(), strict=True):
        p.grad = q.grad.detach().clone()
    opt.step()
    return loss.item()


def sgd(model):
    return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)


def test_sam_step_equals_explicit_two_pass_step():
    model = small_net(torch.float64)
    ref = copy.deepcopy(model)
    method = build_method("sam", {"rho": 0.1}, CTX)
    opt, opt_ref = sgd(model), sgd(ref)
    method.setup(model, opt)
    for i in range(3):  # several steps, so the momentum buffer matters
        x, y = batch(torch.float64, seed=10 + i)
        out = method.train_step(model, opt, x, y, StepInfo(0, i, 4, 1))
        ref_loss = explicit_sam_step(ref, opt_ref, x, y, rho=0.1)
        assert out["loss"] == pytest.approx(ref_loss, rel=1e-12)
    for a, b in zip(model.state_dict().values(), ref.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
    assert not torch.equal(model[0].weight, small_net(torch.float64)[0].weight)


def test_sam_step_differs_from_plain_sgd():
    model = small_net(torch.float64)
    plain = copy.deepcopy(model)
    x, y = batch(torch.float64)
    opt, opt_plain = sgd(model), sgd(plain)
    build_method("sam", {"rho": 0.5}, CTX).train_step(model, opt, x, y, STEP)
    build_method("ce", {}, CTX).train_step(plain, opt_plain, x, y, STEP)
    assert not torch.allclose(model[0].weight, plain[0].weight)


def test_sam_bn_stats_are_those_of_one_forward_pass():
    model = small_net()
    single = copy.deepcopy(model)
    x, y = batch()
    opt = sgd(model)
    build_method("sam", {"rho": 0.5}, CTX).train_step(model, opt, x, y, STEP)
    with torch.no_grad():
        single(x)
    bn, bn_single = model[1], single[1]
    assert torch.equal(bn.running_mean, bn_single.running_mean)
    assert torch.equal(bn.running_var, bn_single.running_var)
    assert bn.num_batches_tracked.item() == bn_single.num_batches_tracked.item() == 1


def test_sam_uses_the_given_loss_fn():
    calls = []

    def weighted_loss(logits, y):  # a different loss than the method's own
        calls.append(1)
        w = torch.tensor([1.0, 3.0, 0.5], dtype=logits.dtype)
        return F.cross_entropy(logits, y, weight=w)

    model = small_net(torch.float64)
    ref, other = copy.deepcopy(model), copy.deepcopy(model)
    x, y = batch(torch.float64)
    opt, opt_ref = sgd(model), sgd(ref)
    out = build_method("sam", {}, CTX).train_step(model, opt, x, y, STEP, loss_fn=weighted_loss)
    assert len(calls) == 2  # both passes
    ref_loss = explicit_sam_step(ref, opt_ref, x, y, rho=0.05, loss_fn=weighted_loss)
    assert out["loss"] == pytest.approx(ref_loss, rel=1e-12)
    for a, b in zip(model.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)

    # Without loss_fn the method's own loss (CE) is used, which gives another step.
    build_method("sam", {}, CTX).train_step(other, sgd(other), x, y, STEP)
    assert not torch.allclose(other[0].weight, model[0].weight)


def test_registered_as_step_methods():
    for name in ("clip", "gnoise", "sam"):
        assert METHODS.get(name).kind == "step"
