"""Contract of every registered model: shapes, dtypes, gradients, determinism, settings."""

from __future__ import annotations

import inspect
from typing import Any

import higher  # a dependency (pyproject.toml): missing, this file fails instead of skipping
import pytest
import torch
from torch.func import functional_call

from lpg_meta.catalog import model_defaults
from lpg_meta.errors import UserError
from lpg_meta.models import MODELS, build_model

# A small configuration of each model that runs in well under a second on a CPU.
# A newly registered model must add itself here (test_every_model_has_a_small_case).
SMALL: dict[str, tuple[tuple[int, ...], dict[str, Any]]] = {
    "mlp": ((1, 40), {}),
    "cnn1d": ((1, 40), {}),
    "cnn2d": ((1, 8, 8), {}),
    "resnet32": ((3, 16, 16), {}),
    "wrn28_10": ((3, 16, 16), {"depth": 10, "widen_factor": 1}),
}
NUM_CLASSES = 7


def _build(name: str, seed: int = 0) -> tuple[torch.nn.Module, tuple[int, ...]]:
    shape, params = SMALL[name]
    torch.manual_seed(seed)
    return build_model(name, NUM_CLASSES, shape, params), shape


def test_every_model_has_a_small_case() -> None:
    assert set(MODELS.names()) == set(SMALL)


@pytest.mark.parametrize("name", MODELS.names())
def test_forward_backward(name: str) -> None:
    model, shape = _build(name)
    x = torch.randn(4, *shape)
    out = model(x)
    assert out.shape == (4, NUM_CLASSES) and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    torch.nn.functional.cross_entropy(out, torch.arange(4)).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname


@pytest.mark.parametrize("name", MODELS.names())
def test_float64(name: str) -> None:
    model, shape = _build(name)
    model = model.double()
    out = model(torch.randn(4, *shape, dtype=torch.float64))
    assert out.dtype == torch.float64 and out.shape == (4, NUM_CLASSES)
    assert torch.isfinite(out).all()
    model.eval()
    assert torch.isfinite(model(torch.randn(2, *shape, dtype=torch.float64))).all()


@pytest.mark.parametrize("name", MODELS.names())
def test_same_seed_same_parameters(name: str) -> None:
    a, _ = _build(name, seed=3)
    b, _ = _build(name, seed=3)
    c, _ = _build(name, seed=4)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert any(not torch.equal(sa[k], sc[k]) for k in sa)


@pytest.mark.parametrize("name", MODELS.names())
def test_virtual_sgd_step_double_backward(name: str) -> None:
    # The meta-learner's pattern: a differentiable SGD step, then a loss at the new weights
    # differentiated back to the old ones. In-place ops on activations would break this.
    model, shape = _build(name)
    model = model.double()
    x, y = torch.randn(4, *shape, dtype=torch.float64), torch.arange(4)
    params = dict(model.named_parameters())
    loss = torch.nn.functional.cross_entropy(functional_call(model, params, (x,)), y)
    grads = torch.autograd.grad(loss, list(params.values()), create_graph=True)
    new = {k: p - 0.1 * g for (k, p), g in zip(params.items(), grads, strict=True)}
    meta = torch.nn.functional.cross_entropy(functional_call(model, new, (x,)), y)
    meta_grads = torch.autograd.grad(meta, list(params.values()), allow_unused=True)
    assert any(g is not None and g.abs().sum() > 0 for g in meta_grads)


@pytest.mark.parametrize("name", MODELS.names())
def test_no_inplace_activations(name: str) -> None:
    model, _ = _build(name)
    for module in model.modules():
        assert not getattr(module, "inplace", False), f"{name}: {module} is in-place"


@pytest.mark.parametrize("name", MODELS.names())
def test_defaults_match_constructor(name: str) -> None:
    defaults = model_defaults(name)
    defaults["extra"] = 1  # a copy: the registered dict is untouched
    assert "extra" not in MODELS.get(name).defaults
    keyword_only = {
        p.name
        for p in inspect.signature(MODELS.get(name).__init__).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }
    assert keyword_only == set(MODELS.get(name).defaults)


@pytest.mark.parametrize("name", MODELS.names())
def test_unknown_setting_is_a_user_error(name: str) -> None:
    shape, _ = SMALL[name]
    with pytest.raises(UserError, match="unknown setting model.nope"):
        build_model(name, NUM_CLASSES, shape, {"nope": 1})


@pytest.mark.parametrize(
    "name, shape, params, match",
    [
        ("cnn1d", (1, 40), {"width": "wide"}, "must be an integer"),
        ("cnn1d", (1, 40), {"batchnorm": 1}, "true or false"),
        ("cnn1d", (3, 8, 8), {}, "1-D signals"),
        ("cnn2d", (1, 40), {}, "image inputs"),
        ("mlp", (1, 40), {"width": 0}, "model.width must be >= 1"),
        ("resnet32", (1, 40), {}, "image inputs"),
        ("wrn28_10", (3, 32, 32), {"depth": 27}, "6n \\+ 4"),
        ("wrn28_10", (3, 32, 32), {"dropout": 1.0}, "dropout"),
    ],
)
def test_bad_settings_are_user_errors(name: str, shape: tuple, params: dict, match: str) -> None:
    with pytest.raises(UserError, match=match):
        build_model(name, NUM_CLASSES, shape, params)


def test_unknown_model_is_a_user_error() -> None:
    with pytest.raises(UserError, match="Did you mean 'resnet32'"):
        build_model("resnet23", 10, (3, 32, 32), {})


@pytest.mark.parametrize("name", MODELS.names())
def test_higher_inner_loop(name: str) -> None:
    # The meta-learner also differentiates through a virtual step with ``higher``.
    model, shape = _build(name)
    model = model.double()
    x, y = torch.randn(4, *shape, dtype=torch.float64), torch.arange(4)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with higher.innerloop_ctx(model, opt) as (fmodel, diffopt):
        diffopt.step(torch.nn.functional.cross_entropy(fmodel(x), y))
        meta = torch.nn.functional.cross_entropy(fmodel(x), y)
        grads = torch.autograd.grad(meta, fmodel.parameters(time=0))
    assert all(torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
