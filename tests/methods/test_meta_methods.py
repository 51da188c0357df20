"""Meta-based baselines l2rw, mwnet, gdw: meta-gradients vs finite differences, rules, training."""

from __future__ import annotations

import copy
import itertools
import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lpg_meta.catalog.methods import meta_params
from lpg_meta.errors import UserError
from lpg_meta.lpg.meta import BACKENDS
from lpg_meta.methods import METHODS, StepInfo, TrainContext, build_method, method_classes
from lpg_meta.methods._meta_stream import MetaLearnedMethod
from lpg_meta.methods.gdw import gdw_update, weighted_ce, zero_sum
from lpg_meta.methods.l2rw import normalized_weights
from lpg_meta.params import defaults_of

NAMES = ("l2rw", "mwnet", "gdw")
C, B = 3, 8


def problem(warm: int = 2):
    """Float64 Linear-BN-Tanh-Linear, Nesterov SGD with weight decay, after ``warm`` CE steps."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 7), nn.BatchNorm1d(7), nn.Tanh(), nn.Linear(7, C)).double()
    opt = torch.optim.SGD(
        model.parameters(), lr=0.3, momentum=0.9, nesterov=True, weight_decay=5e-3
    )
    gen = torch.Generator().manual_seed(1)
    for _ in range(warm):  # momentum buffers and BN statistics become non-trivial
        opt.zero_grad()
        x = torch.randn(B, 5, generator=gen, dtype=torch.float64)
        F.cross_entropy(model(x), torch.arange(B) % C).backward()
        opt.step()
    batch = (torch.randn(B, 5, generator=gen, dtype=torch.float64), torch.arange(B) % C)
    meta = (torch.randn(6, 5, generator=gen, dtype=torch.float64), torch.tensor([0, 1, 2, 2, 1, 0]))
    return model, opt, batch, meta


def build(name: str, meta=None, **params):
    torch.manual_seed(5)  # the weight net's initialisation
    ctx = TrainContext(C, [10] * C, 2, 3, (lambda size: itertools.repeat(meta)) if meta else None)
    method = build_method(name, params, ctx)
    if hasattr(method, "vnet"):
        method.vnet.double()
    return method


def info(epoch: int = 0, step: int = 0) -> StepInfo:
    return StepInfo(epoch=epoch, step=step, steps_per_epoch=3, epochs=2)


def assert_same_state(model_a, model_b) -> None:
    for a, b in zip(model_a.state_dict().values(), model_b.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-15)


def lookahead(model, opt, batch, meta, backward) -> float:
    """Independent reference: a real optimizer step on copies, then the clean meta CE."""
    model, opt = copy.deepcopy((model, opt))
    opt.zero_grad()
    backward(model(batch[0]), batch[1])
    opt.step()
    with torch.no_grad():
        return F.cross_entropy(model(meta[0]), meta[1]).item()


def central_difference(loss_of, flat: torch.Tensor, directions: torch.Tensor | None = None):
    """Central differences of ``loss_of`` at ``flat``: per coordinate, or along ``directions``."""
    h = 1e-6
    directions = torch.eye(flat.numel(), dtype=flat.dtype) if directions is None else directions
    diffs = [(loss_of(flat + h * d) - loss_of(flat - h * d)) / (2 * h) for d in directions]
    return torch.tensor(diffs, dtype=flat.dtype)


def directions(n: int, k: int = 3) -> torch.Tensor:
    """``k`` random unit directions in R^n (the weight net has 301 parameters: too many one by one)."""
    d = torch.randn(k, n, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    return d / d.norm(dim=1, keepdim=True)


def vnet_with(vnet: nn.Module, flat: torch.Tensor) -> nn.Module:
    out = copy.deepcopy(vnet)
    torch.nn.utils.vector_to_parameters(flat, out.parameters())
    return out


def reference_omega(vnet, logits, y, offset):
    """GDW's class-level weights as the reference code builds them (in-place target column)."""
    v = vnet.net(F.cross_entropy(logits, y, reduction="none").detach()[:, None]).squeeze(1)
    w, p, i = v[:, None].repeat(1, C), torch.softmax(logits.detach(), 1).clamp(max=0.999), range(B)
    w[i, y] = ((w * p).sum(1) - w[i, y] * p[i, y]) / (1 - p[i, y])
    return w + offset


def gdw_backward(vnet, offset):
    def backward(u, y):  # the reference's outputs.backward(label_wise_error * v_lambda / B)
        grad = (torch.softmax(u, 1) - F.one_hot(y, C)) * reference_omega(vnet, u, y, offset)
        u.backward(grad.detach() / B)

    return backward


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


BACKEND_NAMES = tuple(sorted(BACKENDS))  # every backend meta.py offers (jvp included, if there)


@pytest.mark.parametrize("warm", [0, 2])  # 0: no momentum buffer yet
def test_l2rw_meta_grad_matches_finite_difference(warm: int) -> None:
    model, opt, batch, meta = problem(warm)

    def loss_of(eps):
        def backward(u, y):
            (eps * F.cross_entropy(u, y, reduction="none")).sum().backward()

        return lookahead(model, opt, batch, meta, backward)

    fd = central_difference(loss_of, torch.zeros(B, dtype=torch.float64))
    for backend in BACKEND_NAMES:
        method = build("l2rw", meta, backend=backend)
        w, grad, _ = method.example_weights(model, opt, batch, meta)
        assert (w > 0).any() and (w == 0).any()  # both sides of the clamp are exercised
        assert rel(grad, fd) < 1e-6


def test_mwnet_meta_grad_matches_finite_difference() -> None:
    model, opt, batch, meta = problem()
    vnet = build("mwnet").vnet

    def loss_of(flat):
        v = vnet_with(vnet, flat).net

        def backward(u, y):
            losses = F.cross_entropy(u, y, reduction="none")
            (v(losses.detach()[:, None]).squeeze(1) * losses).mean().backward()

        return lookahead(model, opt, batch, meta, backward)

    dirs = directions(sum(p.numel() for p in vnet.parameters()))
    fd = central_difference(loss_of, nn.utils.parameters_to_vector(vnet.parameters()), dirs)
    for backend in BACKEND_NAMES:
        grads, _ = build("mwnet", meta, backend=backend).meta_grads(model, opt, batch, meta)
        assert rel(dirs @ torch.cat([g.flatten() for g in grads]), fd) < 1e-6


def test_gdw_meta_grad_matches_finite_difference() -> None:
    model, opt, batch, meta = problem()
    vnet, zero = build("gdw").vnet, torch.zeros(B, C, dtype=torch.float64)
    with torch.no_grad():
        logits = copy.deepcopy(model)(batch[0])  # a copy: the real BN statistics stay put
    assert torch.softmax(logits, 1).max() < 0.999  # p is not clamped: g = p - e_y exactly

    def omega_loss(flat):
        return lookahead(model, opt, batch, meta, gdw_backward(vnet, flat.view(B, C)))

    def vnet_loss(flat):
        return lookahead(model, opt, batch, meta, gdw_backward(vnet_with(vnet, flat), zero))

    dirs = directions(sum(p.numel() for p in vnet.parameters()))
    fd_omega = central_difference(omega_loss, zero.flatten())
    fd_vnet = central_difference(vnet_loss, nn.utils.parameters_to_vector(vnet.parameters()), dirs)
    for backend in BACKEND_NAMES:
        method = build("gdw", meta, backend=backend)
        (g_omega, *g_vnet), _, omega = method.omega_meta_grads(model, opt, batch, meta)
        torch.testing.assert_close(omega, reference_omega(vnet, logits, batch[1], zero))
        assert rel(g_omega.flatten(), fd_omega) < 1e-6
        assert rel(dirs @ torch.cat([g.flatten() for g in g_vnet]), fd_vnet) < 1e-6


def test_l2rw_normalisation_and_clamp() -> None:
    grad = torch.tensor([-0.2, 0.1, -0.6, 0.0])
    torch.testing.assert_close(normalized_weights(grad), torch.tensor([0.25, 0.0, 0.75, 0.0]))
    assert torch.equal(normalized_weights(torch.tensor([0.1, 0.0, 0.3])), torch.zeros(3))


def test_gdw_clipped_update() -> None:
    omega = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.1]])
    grad = torch.tensor([[1.0, -2.0, 0.0], [0.5, 0.0, 0.5]])  # sum |grad| = 4
    expected = torch.tensor([[0.8, 1.2, 1.0], [0.875, 1.0, 1e-6]])  # 0.25, -0.5 clipped to 0.2
    torch.testing.assert_close(gdw_update(omega, grad, 1.0, 0.2), expected)
    assert torch.equal(gdw_update(omega, torch.zeros(2, 3), 100.0, 0.2), omega)


def test_gdw_zero_sum_constraint() -> None:
    p = torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.6, 0.3]], dtype=torch.float64)
    logits, y = p.log().requires_grad_(), torch.tensor([0, 1])
    omega = zero_sum(
        torch.tensor([[9.0, 2.0, 0.5], [1.0, 9.0, 3.0]], dtype=torch.float64), logits, y
    )
    # (2 * 0.3 + 0.5 * 0.2) / (1 - 0.5) = 1.4;  (1 * 0.1 + 3 * 0.3) / (1 - 0.6) = 2.5
    torch.testing.assert_close(omega.diagonal(), torch.tensor([1.4, 2.5], dtype=torch.float64))
    equal = zero_sum(torch.full((2, 3), 0.7, dtype=torch.float64), logits, y)
    torch.testing.assert_close(equal, torch.full((2, 3), 0.7, dtype=torch.float64))  # MW-Net
    weighted_ce(logits, y, omega).backward()
    assert logits.grad.sum(1).abs().max() < 1e-15  # the perturbed logit gradient sums to 0
    torch.testing.assert_close(logits.grad, omega * (p - F.one_hot(y, C)) / 2)


def test_mwnet_weight_net_shape_init_and_rng() -> None:
    torch.manual_seed(9)
    state = torch.random.get_rng_state()
    method = build_method("mwnet", {}, TrainContext(C, [1] * C, 1, 1))
    assert torch.equal(torch.random.get_rng_state(), state)  # the run's RNG stream is untouched
    assert [tuple(p.shape) for p in method.vnet.parameters()] == [(100, 1), (100,), (1, 100), (1,)]
    w1, b1, w2, b2 = method.vnet.parameters()
    assert w1.abs().max() <= 1 and b1.abs().max() <= 1  # nn.Linear default: U(+-1/sqrt(fan_in))
    assert w2.abs().max() <= 0.1 and b2.abs().max() <= 0.1 and w1.std() > 0.3
    out = method.vnet(torch.linspace(0, 10, 11))
    assert out.shape == (11,) and ((out > 0) & (out < 1)).all()


def test_mwnet_loss_input_is_detached() -> None:
    method = build("mwnet")
    gen = torch.Generator().manual_seed(4)
    logits = (3 * torch.randn(B, C, generator=gen, dtype=torch.float64)).requires_grad_()
    y = torch.arange(B) % C
    method.weighted_loss(logits, y).backward()
    with torch.no_grad():
        v = method.vnet(F.cross_entropy(logits, y, reduction="none"))
        expected = v[:, None] * (torch.softmax(logits, 1) - F.one_hot(y, C)) / B
    torch.testing.assert_close(logits.grad, expected, rtol=1e-14, atol=1e-17)
    undetached = torch.autograd.grad(
        (method.vnet.net(F.cross_entropy(logits, y, reduction="none")[:, None]).squeeze(1)
         * F.cross_entropy(logits, y, reduction="none")).mean(), logits)[0]  # fmt: skip
    assert (undetached - expected).abs().max() > 1e-4  # a dV/dl term would be visible


class HandWeights(nn.Module):
    """A weight net with outputs set by hand (its input, the losses, is ignored)."""

    def __init__(self, weights: list[float]) -> None:
        super().__init__()
        self.w = torch.tensor(weights, dtype=torch.float64)

    def forward(self, losses: torch.Tensor) -> torch.Tensor:
        return self.w


def test_mwnet_normalized_loss_divides_by_the_batch_sum() -> None:
    """``train_WRN-28-10_Meta_PGC.py``: sum_i V_i l_i / sum_j V_j, in the virtual and real loss."""
    gen = torch.Generator().manual_seed(4)
    logits = torch.randn(4, C, generator=gen, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0])
    l0, l1, l2, l3 = F.cross_entropy(logits, y, reduction="none").tolist()
    method = build("mwnet", normalize=True)
    method.vnet = HandWeights([1.0, 3.0, 0.0, 4.0])
    expected = (1 * l0 + 3 * l1 + 4 * l3) / 8
    for loss in (method.weighted_loss, method.frozen_loss):
        assert loss(logits, y).item() == pytest.approx(expected, rel=1e-14)
    plain = build("mwnet")  # MW-Net.py: the mean of V_i l_i
    plain.vnet = method.vnet
    assert plain.weighted_loss(logits, y).item() == pytest.approx(expected * 8 / 4, rel=1e-14)
    method.vnet = HandWeights([0.0] * 4)  # the reference leaves a zero sum undivided: loss 0
    assert method.weighted_loss(logits, y).item() == 0.0


def test_mwnet_normalized_meta_gradient_goes_through_the_sum() -> None:
    model, opt, batch, meta = problem()
    method = build("mwnet", meta, normalize=True)
    vnet = method.vnet
    grads, _ = method.meta_grads(model, opt, batch, meta)
    flat = torch.nn.utils.parameters_to_vector(vnet.parameters()).detach()
    d = directions(flat.numel())

    def meta_loss(v_flat: torch.Tensor) -> float:
        net = vnet_with(vnet, v_flat)

        def backward(u, yy):
            losses = F.cross_entropy(u, yy, reduction="none")
            w = net(losses).detach()
            (w / w.sum() * losses).sum().backward()

        return lookahead(model, opt, batch, meta, backward)

    numeric = central_difference(meta_loss, flat, d)
    analytic = d @ torch.cat([g.reshape(-1) for g in grads])
    assert rel(analytic, numeric) < 1e-6


def test_mwnet_normalize_is_left_out_of_configs_while_false() -> None:
    from lpg_meta.config import resolve_config
    from lpg_meta.results import config_hash

    plain = resolve_config({"method": "mwnet"})
    assert "normalize" not in plain["method_params"]  # earlier mwnet cells keep their hash
    assert config_hash(resolve_config({"method": "mwnet", "method_params": {"normalize": False}})) == (
        config_hash(plain)
    )
    assert resolve_config({"method": "mwnet", "method_params": {"normalize": True}})[
        "method_params"]["normalize"] is True  # fmt: skip
    with pytest.raises(UserError, match="method.normalize"):
        resolve_config({"method": "gdw", "method_params": {"normalize": True}})


def test_l2rw_step_trains_on_the_normalised_weights() -> None:
    model, opt, batch, meta = problem()
    method = build("l2rw", meta)
    w, _, _ = method.example_weights(model, opt, batch, meta)
    ref, ref_opt = copy.deepcopy((model, opt))
    method.setup(model, opt)
    method.train_step(model, opt, *batch, info())
    ref_opt.zero_grad()
    (w * F.cross_entropy(ref(batch[0]), batch[1], reduction="none")).sum().backward()
    ref_opt.step()
    assert_same_state(model, ref)
    method.on_epoch_end(0)
    rec = method.record()["l2rw"]
    assert rec["zero_fraction"] == [(w == 0).double().mean().item()] and rec["meta_loss"][0] > 0
    kept = w[w > 0]  # (sum w)^2 / (B sum w^2); w sums to 1: 1 / (B sum w^2)
    assert rec["effective_fraction"] == [pytest.approx(1 / (B * (kept**2).sum().item()), rel=1e-12)]


def test_mwnet_step_is_adam_then_reweighted_step() -> None:
    model, opt, batch, meta = problem()
    method = build("mwnet", meta)
    grads, _ = method.meta_grads(model, opt, batch, meta)
    before = [p.detach().clone() for p in method.vnet.parameters()]
    ref, ref_opt = copy.deepcopy((model, opt))
    method.setup(model, opt)
    method.train_step(model, opt, *batch, info())
    lr = 1e-3 * 10  # vnet_lr 1e-3 a training step x meta_interval 10 (the defaults): meta_step_lr
    for p, p0, g in zip(method.vnet.parameters(), before, grads, strict=True):
        g = g + 1e-4 * p0  # Adam's first step with weight decay 1e-4: lr * g / (|g| + 1e-8)
        torch.testing.assert_close(p.detach(), p0 - lr * g / (g.abs() + 1e-8))
    ref_opt.zero_grad()
    losses = F.cross_entropy(ref(batch[0]), batch[1], reduction="none")
    (method.vnet(losses).detach() * losses).mean().backward()  # the updated net's weights
    ref_opt.step()
    assert_same_state(model, ref)


def test_gdw_step_uses_the_updated_class_weights() -> None:
    model, opt, batch, meta = problem()
    method = build("gdw", meta, outer_lr=5.0)  # 5 / 24 entries: some clipped, some not
    (g_omega, *_), _, _ = method.omega_meta_grads(model, opt, batch, meta)
    vnet0, zero = copy.deepcopy(method.vnet), torch.zeros(B, C, dtype=torch.float64)
    ref, ref_opt = copy.deepcopy((model, opt))
    method.setup(model, opt)
    method.train_step(model, opt, *batch, info())
    u = ref(batch[0])
    omega = reference_omega(vnet0, u, batch[1], zero)  # stage 1 with V before its Adam step
    step = (5.0 * g_omega / g_omega.abs().sum()).clamp(-0.2, 0.2)
    assert (step.abs() == 0.2).any() and (step.abs() < 0.2).any()
    ref_opt.zero_grad()
    omega = zero_sum((omega - step).clamp(1e-6, 1e6), u, batch[1])
    u.backward(((torch.softmax(u, 1) - F.one_hot(batch[1], C)) * omega).detach() / B)
    ref_opt.step()
    assert_same_state(model, ref)
    method.on_epoch_end(0)
    traj = method.record()["gdw"]["trajectory"]
    expected = [omega[batch[1] == c].mean(0).tolist() for c in range(C)]
    torch.testing.assert_close(torch.tensor(traj[0]), torch.tensor(expected))


@pytest.mark.parametrize("name", NAMES)
def test_warm_up_is_plain_ce(name: str) -> None:
    model, opt, batch, meta = problem()
    ref, ref_opt = copy.deepcopy((model, opt))
    method = build(name, meta, warmup_epochs=1)
    method.setup(model, opt)
    method.train_step(model, opt, *batch, info())
    ref_opt.zero_grad()
    F.cross_entropy(ref(batch[0]), batch[1]).backward()
    ref_opt.step()
    assert_same_state(model, ref)
    method.on_epoch_end(0)
    assert method.record()[name]["meta_loss"] == [None]


@pytest.mark.parametrize("name", NAMES)
def test_registration_settings_and_errors(name: str, monkeypatch) -> None:
    cls = METHODS.get(name)
    assert cls.kind == "meta" and cls.needs_meta and cls.name == name
    assert cls.defaults["backend"] == "auto" and set(cls.search_space) <= set(cls.defaults)
    for spec in cls.search_space.values():
        assert spec[0] in ("log", "float", "int", "categorical") and spec[1] < spec[2]
    with pytest.raises(UserError, match="cannot compose"):
        method_classes(f"lpg+{name}")
    with pytest.raises(UserError, match="backend"):
        build(name, backend="nope")
    with pytest.raises(UserError, match="meta_interval"):
        build(name, meta_interval=0)
    # The declared choices are the backends there are: a new one is declared with its function.
    assert set(METHODS.declaration(name).params["backend"].choices) == {"auto", *BACKENDS}
    model, _, _, meta = problem(0)
    with pytest.raises(UserError, match="torch.optim.SGD"):
        build(name, meta, backend="torchfunc").setup(model, torch.optim.Adam(model.parameters()))
    resolved = build(name, meta)
    resolved.setup(model, torch.optim.SGD(model.parameters(), lr=0.1))
    assert resolved.backend == "jvp"  # auto: exact forward mode for one SGD look-ahead step
    resolved.setup(model, torch.optim.Adam(model.parameters()))
    assert resolved.backend == "higher"


@pytest.mark.parametrize("name", METHODS.names())
def test_meta_learned_methods_share_one_base(name: str) -> None:
    cls = METHODS.get(name)
    learned = issubclass(cls, MetaLearnedMethod)
    assert learned == (cls.kind == "meta") == cls.needs_meta
    if learned:  # the shared settings, with the shared defaults, in every one of them
        # but a meta step every step in l2rw and gdw: their per-batch weights do not last
        shared = defaults_of(meta_params(1 if name in ("l2rw", "gdw") else 10))
        assert {k: cls.defaults[k] for k in shared} == shared


def test_lpg_plus_mwnet_is_refused() -> None:
    with pytest.raises(UserError, match="'mwnet' is a meta-based method"):
        build("lpg+mwnet")


@pytest.mark.parametrize("name", NAMES)
def test_one_epoch_through_the_trainer(name: str, tmp_path) -> None:
    from lpg_meta.config import resolve_config
    from lpg_meta.train.trainer import train

    data = {"num_samples": 600, "imbalance": 10}
    cfg = {
        "dataset": "mnist1d",
        "method": name,
        "data": data,
        "train": {"epochs": 1, "progress": "none"},
    }
    result = train(resolve_config(cfg), tmp_path)
    stored = json.loads((tmp_path / "result.json").read_text())
    assert stored["status"] == "ok" and stored["config"]["method"] == name
    test = stored["metrics"]["test"]
    assert all(math.isfinite(test[k]) for k in ("accuracy", "balanced_accuracy", "nll"))
    assert math.isfinite(stored["history"][0]["train_loss"])
    rec = result[name]
    assert rec["time_meta_s"] > 0 and rec["time_real_s"] > 0 and len(rec["meta_loss"]) == 1
    if name == "l2rw":
        assert 0 <= rec["zero_fraction"][0] <= 1
    else:
        assert len(rec["loss_grid"]) == len(rec["weights"]) == 101
    if name == "gdw":
        assert len(rec["trajectory"]) == 1 and len(rec["trajectory"][0]) == 10


def _train_three_steps(name: str, backend: str, reuse: bool | None = None):
    """Three steps from one seed, with dropout after the BatchNorm (its masks must replay)."""
    model, opt, batch, meta = problem(0)  # step 0: no momentum buffer yet
    model.insert(3, nn.Dropout(0.3))
    method = build(name, meta, backend=backend, outer_lr=5.0) if name == "gdw" else build(
        name, meta, backend=backend
    )
    method.setup(model, opt)
    if reuse is not None:
        method.reuse_forward = reuse
    torch.manual_seed(11)
    for k in range(3):
        method.train_step(model, opt, batch[0] + 0.1 * k, batch[1], info(step=k))
    return model, method, torch.get_rng_state()


@pytest.mark.parametrize("name", NAMES)
def test_jvp_shares_the_real_forward_and_equals_higher(name: str) -> None:
    shared, method, rng_shared = _train_three_steps(name, "jvp")
    assert method.reuse_forward
    assert dict(shared.named_buffers())["1.num_batches_tracked"].item() == 3  # one forward/step
    assert method.time_meta_s > 0 and method.time_real_s > 0
    two_forwards, _, rng_two = _train_three_steps(name, "jvp", reuse=False)
    higher, _, rng_higher = _train_three_steps(name, "higher")
    assert torch.equal(rng_shared, rng_two) and torch.equal(rng_shared, rng_higher)
    for other, rtol in ((two_forwards, 1e-12), (higher, 1e-10)):
        for a, b in zip(shared.state_dict().values(), other.state_dict().values(), strict=True):
            torch.testing.assert_close(a, b, rtol=rtol, atol=1e-13)
    start = torch.nn.utils.parameters_to_vector(problem(0)[0].parameters())
    assert (torch.nn.utils.parameters_to_vector(shared.parameters()) - start).abs().sum() > 1e-3


@pytest.mark.parametrize(("name", "key", "optimizer_of"), [("lpg", "meta_lr", lambda m: m.bilevel.optimizer),
                                                          ("mwnet", "vnet_lr", lambda m: m.vnet_update.optimizer),
                                                          ("gdw", "vnet_lr", lambda m: m.vnet_update.optimizer)])
@pytest.mark.parametrize("interval", [1, 5])
def test_the_meta_step_size_is_the_rate_per_step_times_the_interval(name, key, optimizer_of, interval) -> None:
    # One meta step every `interval` steps stands for `interval` steps of the per-step rate.
    method = build(name, problem()[3], meta_interval=interval, **{key: 0.002})
    assert optimizer_of(method).param_groups[0]["lr"] == pytest.approx(0.002 * interval, rel=1e-15)
