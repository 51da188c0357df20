"""The ``fd`` backend: ``J w`` by a central difference, against the exact ``jvp`` backend."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from lpg_testkit import build_problem, ctx, form_of, info, perturbed_ce
from torch import nn

from lpg_meta.config import OPTIM_DEFAULTS, resolve_config
from lpg_meta.data import build_data
from lpg_meta.errors import UserError
from lpg_meta.lpg import build_form, fd_directional, fd_step_size, lookahead_meta_grad, rng_state
from lpg_meta.methods import build_method
from lpg_meta.models import build_model
from lpg_meta.train.schedule import build_optimizer


def _flat(grads: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([g.reshape(-1) for g in grads])


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


def test_step_size_by_hand() -> None:
    theta = [torch.tensor([3.0, 0.0], dtype=torch.float64), torch.tensor([4.0], dtype=torch.float64)]
    direction = [torch.tensor([0.0, 2.0], dtype=torch.float64), torch.tensor([0.0], dtype=torch.float64)]
    u = torch.finfo(torch.float64).eps
    assert fd_step_size(theta, direction) == pytest.approx(u**0.5 * 5.0 / 2.0, rel=1e-15)
    assert fd_step_size(theta, [torch.zeros(2, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)]) == 0.0


def test_central_difference_of_a_cubic_by_hand() -> None:
    """f(t) = t^3 elementwise: the central difference is 3 t^2 w + eps^2 w^3 exactly."""
    t = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    w = torch.tensor([1.0, 3.0, -2.0], dtype=torch.float64)
    got = fd_directional(lambda p: p["t"] ** 3, {"t": t}, {"t": w}, nn.Linear(1, 1), rng_state(nn.Linear(1, 1)))
    eps = fd_step_size([t], [w])
    expected = 3 * t**2 * w + eps**2 * w**3
    # Rounding only: each forward is within u |t^3 + ...| of exact, divided by 2 eps.
    bound = 4 * torch.finfo(torch.float64).eps * (t.abs() + eps * w.abs()).pow(3).max() / (2 * eps)
    assert (got - expected).abs().max() <= bound
    assert (got - 3 * t**2 * w).abs().max() > 0  # the difference is not the exact derivative


def _cnn1d_problem(dtype: torch.dtype):
    """cnn1d (BatchNorm, ReLU) on MNIST-1D after three SGD steps, a train and a meta batch of 64."""
    data = build_data("mnist1d", {"num_samples": 1000}, 0)
    torch.manual_seed(0)
    model = build_model("cnn1d", data.num_classes, data.input_shape, {}).to(dtype)
    optimizer = build_optimizer(model, OPTIM_DEFAULTS)  # SGD, Nesterov momentum, weight decay
    x, y = data.train.x.to(dtype), data.train.y
    for k in range(3):
        optimizer.zero_grad()
        F.cross_entropy(model(x[64 * k:64 * (k + 1)]), y[64 * k:64 * (k + 1)]).backward()
        optimizer.step()
    form = build_form("matrix", data.num_classes, eps=0.5).to(dtype)
    with torch.no_grad():
        form.phi.copy_(0.5 * torch.randn(form.phi.shape, generator=torch.Generator().manual_seed(3)).to(dtype))
    return model, optimizer, (x[:64], y[:64]), (x[64:128], y[64:128]), form


# The error of the fd meta-gradient is about a delta + b u / delta at delta = sqrt(u)
# (fd_step_size): ReLU kinks crossed and rounding, a and b the network's own condition factors
# (below 1 where measured, benchmarks/bench_fd_error.py). 100 sqrt(u) leaves them a factor 100:
# 1.5e-6 in float64, 0.035 in float32. A wrong sign errs by 2, a missing division by 1 / (2 eps).
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_fd_meta_gradient_agrees_with_jvp_on_cnn1d(dtype: torch.dtype) -> None:
    model, optimizer, batch, meta_batch, form = _cnn1d_problem(dtype)
    loss = perturbed_ce(form.transform)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    exact, v_exact = lookahead_meta_grad(model, optimizer, batch, meta_batch, loss, [form.phi], "jvp")
    fd, v_fd = lookahead_meta_grad(model, optimizer, batch, meta_batch, loss, [form.phi], "fd")
    for k, v in model.state_dict().items():  # BN running statistics and counters unmoved
        assert torch.equal(v, before[k]), k
    assert _flat(exact).norm() > 1e-6
    assert _rel(_flat(fd), _flat(exact)) < 100 * torch.finfo(dtype).eps ** 0.5
    assert v_fd == v_exact  # the meta loss at theta' does not depend on how J w is had


@pytest.mark.parametrize("name", ["lpg", "lpg_scale", "lpg_shift", "lpg_clip", "l2rw", "mwnet", "gdw"])
def test_every_meta_method_trains_with_fd_as_with_jvp(name: str) -> None:
    states = []
    for backend in ("jvp", "fd"):
        model, optimizer, (x, y), meta_batch = build_problem(warm=0)
        # a meta step on both steps (the default interval 10 would make step 1 a plain one)
        method = build_method(name, {"backend": backend, "meta_interval": 1}, ctx(meta_batch))
        method.setup(model, optimizer)
        assert method.backend == backend and method.reuse_forward
        for k in range(2):
            method.train_step(model, optimizer, x + 0.1 * k, y, info(step=k))
        states.append(torch.cat([t.reshape(-1).double() for t in model.state_dict().values()]))
        record = method.record()
        assert next(v for v in record.values() if isinstance(v, dict) and "backend" in v)["backend"] == backend
    # float64 smooth model: the fd error, 100 sqrt(u) at most (above), moves the meta-learned
    # weights and through them one real step of lr 0.3; a wrong sign would move them by O(1).
    assert _rel(states[1], states[0]) < 100 * torch.finfo(torch.float64).eps ** 0.5
    assert not torch.equal(states[1], states[0])  # fd is an estimate: it ran


def test_fd_where_not_one_sgd_step_is_an_error() -> None:
    model, optimizer, batch, meta_batch = build_problem()
    with pytest.raises(UserError, match="method.backend 'fd'.*Adam"):
        build_method("lpg", {"backend": "fd"}, ctx(meta_batch)).setup(model, torch.optim.Adam(model.parameters()))
    form = form_of("scale")
    with pytest.raises(UserError, match="'fd'.*3 step"):
        lookahead_meta_grad(model, optimizer, batch, meta_batch, perturbed_ce(form.transform), [form.phi], "fd", 3)


def test_result_records_the_fd_backend() -> None:
    from lpg_meta.train.trainer import train

    cfg = resolve_config({"dataset": "digits", "method": "lpg", "method_params": {"backend": "fd"},
                          "train": {"epochs": 1, "progress": "none", "max_steps_per_epoch": 2}})
    result = train(cfg)
    assert result["config"]["method_params"]["backend"] == "fd"
    assert (result["lpg"]["backend"], result["lpg"]["backend_requested"]) == ("fd", "fd")
