"""The forward-mode ``jvp`` backend: equal to ``higher``, its ``auto`` choice, and forward reuse."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from lpg_testkit import (
    FORM_CASES,
    TwoPass,
    build_problem,
    clone_pair,
    ctx,
    form_of,
    info,
    make_batches,
    make_model,
    perturbed_ce,
    warm_up,
)
from torch import nn

from lpg_meta.errors import UserError
from lpg_meta.lpg import lookahead_meta_grad
from lpg_meta.methods import METHODS, build_method

# torch.optim.SGD variants: every path of its update (buffer or not, dampening, Nesterov,
# weight decay) and two parameter groups with their own lr and momentum.
SGD_CASES = {
    "nesterov_wd": dict(lr=0.3, momentum=0.9, nesterov=True, weight_decay=5e-3),
    "momentum_dampening": dict(lr=0.2, momentum=0.8, dampening=0.3, weight_decay=1e-3),
    "plain": dict(lr=0.1),
    "maximize": dict(lr=0.1, momentum=0.9, maximize=True),
    "two_groups": None,
}


def _optimizer(model: nn.Module, case: str) -> torch.optim.SGD:
    if SGD_CASES[case] is not None:
        return torch.optim.SGD(model.parameters(), **SGD_CASES[case])
    first, *rest = list(model.parameters())
    return torch.optim.SGD(
        [{"params": [first], "lr": 0.05, "momentum": 0.5}, {"params": rest}],
        lr=0.3,
        momentum=0.9,
        nesterov=True,
    )


def _problem(sgd: str, warm: int, batchnorm: bool = True, dropout: bool = False):
    model = make_model(batchnorm=batchnorm)
    if dropout:
        model.add_module("drop", nn.Dropout(0.3))
    optimizer = _optimizer(model, sgd)
    warm_up(model, optimizer, warm)
    return model, optimizer, *make_batches()


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


def _grads(problem, train_loss, meta_params, backend: str, steps: int = 1):
    model, optimizer, batch, meta_batch = problem
    grads, value = lookahead_meta_grad(
        model, optimizer, batch, meta_batch, train_loss, meta_params, backend=backend, steps=steps
    )
    return torch.cat([g.reshape(-1) for g in grads]), value


def _check_jvp(case: str, sgd: str, warm: int, batchnorm: bool) -> None:
    problem = _problem(sgd, warm, batchnorm)
    form = form_of(case)
    # higher 0.2.1 ignores SGD's maximize flag (it always descends): compare with torchfunc there.
    reference = "torchfunc" if sgd == "maximize" else "higher"
    g_jvp, v_jvp = _grads(problem, perturbed_ce(form.transform), [form.phi], "jvp")
    g_ref, v_ref = _grads(problem, perturbed_ce(form.transform), [form.phi], reference)
    assert g_ref.norm() > 1e-6
    assert _rel(g_jvp, g_ref) < 1e-10
    assert v_jvp == pytest.approx(v_ref, rel=1e-12)


@pytest.mark.parametrize("batchnorm", [True, False])
@pytest.mark.parametrize("warm", [0, 2])  # 0: first SGD step, no momentum buffer yet
@pytest.mark.parametrize("case", sorted(FORM_CASES))
def test_jvp_equals_higher_for_every_form(case: str, warm: int, batchnorm: bool) -> None:
    _check_jvp(case, "nesterov_wd", warm, batchnorm)


@pytest.mark.parametrize("batchnorm", [True, False])
@pytest.mark.parametrize("warm", [0, 2])
@pytest.mark.parametrize("sgd", sorted(set(SGD_CASES) - {"nesterov_wd"}))
@pytest.mark.parametrize("case", ["matrix"])
def test_jvp_equals_higher_for_every_sgd_update(
    case: str, sgd: str, warm: int, batchnorm: bool
) -> None:
    _check_jvp(case, sgd, warm, batchnorm)


def test_jvp_replays_dropout_masks() -> None:
    problem = _problem("nesterov_wd", 2, dropout=True)
    form = form_of("matrix")
    g_jvp, _ = _grads(problem, perturbed_ce(form.transform), [form.phi], "jvp")
    g_higher, _ = _grads(problem, perturbed_ce(form.transform), [form.phi], "higher")
    assert _rel(g_jvp, g_higher) < 1e-10


def test_jvp_weighted_loss_equals_higher() -> None:
    """An MW-Net-like train loss: weights V(l.detach(); psi) * l (not a logit-gradient form)."""
    problem = _problem("nesterov_wd", 2)
    torch.manual_seed(5)
    vnet = nn.Sequential(nn.Linear(1, 8), nn.ReLU(), nn.Linear(8, 1), nn.Sigmoid()).double()

    def weighted(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        losses = F.cross_entropy(logits, y, reduction="none")
        return (vnet(losses.detach().unsqueeze(1)).squeeze(1) * losses).mean()

    psi = list(vnet.parameters())
    g_jvp, _ = _grads(problem, weighted, psi, "jvp")
    g_higher, _ = _grads(problem, weighted, psi, "higher")
    assert g_higher.norm() > 1e-8 and _rel(g_jvp, g_higher) < 1e-10


@pytest.mark.parametrize("name", ["mwnet", "l2rw", "gdw"])
def test_meta_reweighting_methods_take_jvp(name: str) -> None:
    assert name in METHODS  # a rename must fail here, not skip
    states = []
    for backend in ("higher", "jvp"):
        model, optimizer, (x, y), meta_batch = build_problem()
        method = build_method(name, {"backend": backend}, ctx(meta_batch))
        method.setup(model, optimizer)
        method.train_step(model, optimizer, x, y, info())
        states.append(torch.cat([p.detach().reshape(-1) for p in model.parameters()]))
    torch.testing.assert_close(states[1], states[0], rtol=1e-10, atol=1e-12)


def _train(name: str, backend: str, steps: int = 3, dropout: bool = False, **settings):
    model, optimizer, (x, y), meta_batch = build_problem(warm=0)  # step 0: no buffer yet
    if dropout:
        model.add_module("drop", nn.Dropout(0.3))
    method = build_method(name, {"backend": backend, **settings}, ctx(meta_batch))
    method.setup(model, optimizer)
    torch.manual_seed(11)
    for k in range(steps):
        method.train_step(model, optimizer, x + 0.1 * k, y, info(step=k))
    return model, optimizer, method


def _assert_same_training(a, b, rtol: float = 1e-10) -> None:
    (model_a, opt_a, method_a), (model_b, opt_b, method_b) = a, b
    torch.testing.assert_close(method_a.form.phi, method_b.form.phi, rtol=rtol, atol=1e-12)
    for ta, tb in zip(model_a.state_dict().values(), model_b.state_dict().values(), strict=True):
        torch.testing.assert_close(ta, tb, rtol=rtol, atol=1e-12)  # BN buffers included
    for pa, pb in zip(model_a.parameters(), model_b.parameters(), strict=True):
        buf_a, buf_b = opt_a.state[pa]["momentum_buffer"], opt_b.state[pb]["momentum_buffer"]
        torch.testing.assert_close(buf_a, buf_b, rtol=rtol, atol=1e-12)


@pytest.mark.parametrize("name", ["lpg", "lpg_scale", "lpg_shift", "lpg_clip"])
def test_train_step_with_forward_reuse_equals_higher(name: str) -> None:
    jvp = _train(name, "jvp", dropout=True)
    rng_jvp = torch.get_rng_state()
    higher = _train(name, "higher", dropout=True)
    assert jvp[2].reuse_forward and not higher[2].reuse_forward
    assert torch.equal(rng_jvp, torch.get_rng_state())  # the real step sees the same stream
    assert jvp[2].form.phi.abs().sum() > 0
    _assert_same_training(jvp, higher)
    num_batches = dict(jvp[0].named_buffers())["1.num_batches_tracked"]
    assert num_batches.item() == 3  # one train-mode forward per step moved BN statistics


def test_forward_reuse_equals_the_two_forward_path() -> None:
    reused = _train("lpg", "jvp", dropout=True)
    model, optimizer, (x, y), meta_batch = build_problem(warm=0)
    model.add_module("drop", nn.Dropout(0.3))
    method = build_method("lpg", {"backend": "jvp"}, ctx(meta_batch))
    method.setup(model, optimizer)
    method.reuse_forward = False  # the meta step then runs its own forward
    torch.manual_seed(11)
    for k in range(3):
        method.train_step(model, optimizer, x + 0.1 * k, y, info(step=k))
    _assert_same_training(reused, (model, optimizer, method), rtol=1e-12)
    assert reused[2].time_meta_s > 0 and reused[2].time_real_s > 0


def test_step_based_base_takes_its_own_step_with_jvp() -> None:
    runs = []
    for backend in ("jvp", "higher"):
        model, optimizer, (x, y), meta_batch = build_problem()
        cls = METHODS.get("lpg_scale")
        method = cls({**cls.defaults, "backend": backend}, ctx(meta_batch), base=TwoPass({}, ctx()))
        method.setup(model, optimizer)
        assert not method.reuse_forward
        method.train_step(model, optimizer, x, y, info())
        runs.append((model, optimizer, method))
    _assert_same_training(*runs)


def test_auto_resolves_and_is_recorded() -> None:
    model, optimizer, _, meta_batch = build_problem()
    method = build_method("lpg", {}, ctx(meta_batch))
    assert method.params["backend"] == "auto"
    method.setup(model, optimizer)
    rec = method.record()["lpg"]
    assert (rec["backend"], rec["backend_requested"]) == ("jvp", "auto")
    three = build_method("lpg", {"lookahead_steps": 3}, ctx(meta_batch))
    three.setup(model, optimizer)
    assert three.record()["lpg"]["backend"] == "higher"
    adam = build_method("lpg", {}, ctx(meta_batch))
    adam.setup(model, torch.optim.Adam(model.parameters()))
    assert adam.record()["lpg"]["backend"] == "higher"


def test_jvp_where_not_exact_is_an_error() -> None:
    model, optimizer, batch, meta_batch = build_problem()
    with pytest.raises(UserError, match="method.backend 'jvp'.*3 step"):
        build_method("lpg", {"backend": "jvp", "lookahead_steps": 3}, ctx(meta_batch)).setup(
            model, optimizer
        )
    with pytest.raises(UserError, match="method.backend 'jvp'.*Adam"):
        build_method("lpg", {"backend": "jvp"}, ctx(meta_batch)).setup(
            model, torch.optim.Adam(model.parameters())
        )
    form = form_of("scale")
    with pytest.raises(UserError, match="'higher'"):
        lookahead_meta_grad(
            model, optimizer, batch, meta_batch, perturbed_ce(form.transform), [form.phi], "jvp", 3
        )


def test_three_step_lookahead_higher_equals_torchfunc() -> None:
    problem = _problem("nesterov_wd", 2)
    form = form_of("matrix")
    g_higher, _ = _grads(problem, perturbed_ce(form.transform), [form.phi], "higher", steps=3)
    g_func, _ = _grads(problem, perturbed_ce(form.transform), [form.phi], "torchfunc", steps=3)
    g_one, _ = _grads(problem, perturbed_ce(form.transform), [form.phi], "higher", steps=1)
    assert _rel(g_func, g_higher) < 1e-8
    assert _rel(g_one, g_higher) > 1e-3  # three steps are not one
    model, optimizer, method = _train("lpg", "auto", steps=2, lookahead_steps=3)
    assert method.backend == "higher" and method.form.phi.abs().sum() > 0


def test_jvp_leaves_the_real_state_alone() -> None:
    model, optimizer, batch, meta_batch = _problem("nesterov_wd", 2, dropout=True)
    ref_model, ref_opt = clone_pair(model, optimizer)
    rng = torch.get_rng_state()
    grads = [p.grad.clone() for p in model.parameters()]  # the warm-up's
    form = form_of("matrix")
    lookahead_meta_grad(
        model, optimizer, batch, meta_batch, perturbed_ce(form.transform), [form.phi], "jvp"
    )
    assert torch.equal(rng, torch.get_rng_state())
    for a, b in zip(model.state_dict().values(), ref_model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    for pa, pb, grad in zip(model.parameters(), ref_model.parameters(), grads, strict=True):
        assert torch.equal(pa.grad, grad)
        assert torch.equal(
            optimizer.state[pa]["momentum_buffer"], ref_opt.state[pb]["momentum_buffer"]
        )


@pytest.mark.parametrize("warm", [0, 2])
def test_jvp_matches_a_finite_difference_under_maximize(warm: int) -> None:
    """higher cannot be the reference for ``maximize``: compare with real look-ahead steps."""
    model, optimizer, (x, y), (x_m, y_m) = problem = _problem("maximize", warm)
    form = form_of("matrix")
    grad, _ = _grads(problem, perturbed_ce(form.transform), [form.phi], "jvp")

    def lookahead(phi: torch.Tensor) -> float:
        m, opt = clone_pair(model, optimizer)
        opt.zero_grad()
        perturbed_ce(lambda g, yy: g + form.delta(g, yy, phi))(m(x), y).backward()
        opt.step()
        with torch.no_grad():
            return F.cross_entropy(m(x_m), y_m).item()

    h, fd = 1e-6, torch.zeros(form.phi.numel(), dtype=torch.float64)
    for k in range(fd.numel()):
        step = torch.zeros_like(fd)
        step[k] = h
        phi = form.phi.detach().reshape(-1)
        plus, minus = (lookahead((phi + s).view_as(form.phi)) for s in (step, -step))
        fd[k] = (plus - minus) / (2 * h)
    assert _rel(grad, fd) < 1e-6


def test_an_lpg_run_prints_no_torch_jit_future_warning() -> None:
    # every lpg run printed torch's "torch.jit.script is deprecated" (make_dual's import).
    import subprocess
    import sys

    code = (
        "import warnings; warnings.simplefilter('error', FutureWarning)\n"
        "from lpg_meta.config import resolve_config\nfrom lpg_meta.train.trainer import train\n"
        "train(resolve_config({'dataset': 'digits', 'method': 'lpg', 'train': "
        "{'epochs': 1, 'progress': 'none', 'max_steps_per_epoch': 2}}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
