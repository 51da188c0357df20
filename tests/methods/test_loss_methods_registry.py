"""Every loss-based method in the registry builds, trains one step, and composes with LPG."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from lpg_meta.errors import UserError
from lpg_meta.methods import METHODS, StepInfo, TrainContext, build_method, method_classes

# Plug-ins (lpg_rule is one, of kind "loss") wrap a base and are tested with their own code.
LOSS_METHODS = sorted(
    n
    for n in METHODS
    if METHODS.get(n).kind == "loss" and not getattr(METHODS.get(n), "accepts_bases", ())
)
# LPG's settings (docs/method.md §3): a base must not reuse them, as lpg+BASE merges both flat.
LPG_KEYS = {"eps", "normalize", "zero_sum", "tau_max", "meta_optimizer", "meta_lr", "phi_decay",
            "warmup_epochs", "meta_interval", "meta_batch_size", "backend"}  # fmt: skip


def meta_batches(batch_size: int):
    g = torch.Generator().manual_seed(2)
    while True:
        yield (
            torch.randn(batch_size, 4, generator=g),
            torch.randint(0, 3, (batch_size,), generator=g),
        )


# Class 2 is empty in the training counts: every prior-based method must stay finite.
CTX = TrainContext(
    num_classes=3, class_counts=[20, 5, 0], epochs=2, steps_per_epoch=2, meta_batches=meta_batches
)


def data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(8, 4, generator=g), torch.tensor([0, 0, 0, 1, 1, 2, 0, 1])


def test_the_loss_baselines_are_registered():
    expected = "ce focal cb ldam ldam_drw la la_posthoc bsoftmax ls gce sce lpl".split()
    assert set(expected) <= set(LOSS_METHODS)


@pytest.mark.parametrize("name", LOSS_METHODS)
def test_declared_settings_and_search_space(name):
    cls = METHODS.get(name)
    assert cls.name == name
    assert set(cls.search_space) <= set(cls.defaults)
    for spec in cls.search_space.values():
        assert spec[0] in ("log", "float", "int", "categorical")
        if spec[0] == "categorical":
            assert spec[1]
        else:
            assert spec[1] < spec[2] and (spec[0] != "log" or spec[1] > 0)
    plugin_keys = set(LPG_KEYS)
    for other in METHODS:
        if "loss" in getattr(METHODS.get(other), "accepts_bases", ()):
            plugin_keys |= set(METHODS.get(other).defaults)
    assert not set(cls.defaults) & plugin_keys


@pytest.mark.parametrize("name", LOSS_METHODS)
def test_every_search_space_value_builds(name):
    for key, spec in METHODS.get(name).search_space.items():
        values = spec[1] if spec[0] == "categorical" else spec[1:]
        for value in values:
            build_method(name, {key: value}, CTX)


@pytest.mark.parametrize("name", LOSS_METHODS)
@pytest.mark.parametrize("scale", [1.0, 100.0])
def test_loss_is_finite_and_differentiable(name, scale):
    method = build_method(name, {}, CTX)
    assert method.params == METHODS.get(name).defaults
    torch.manual_seed(0)
    logits = (scale * torch.randn(8, 3)).requires_grad_()
    _, y = data()
    per_sample = method.per_sample_loss(logits, y)
    assert per_sample.shape == (8,)
    loss = method.loss(logits, y)
    assert torch.isfinite(loss) and torch.allclose(per_sample.mean(), loss)
    loss.backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Linear(4, 3)


@pytest.mark.parametrize("name", LOSS_METHODS)
def test_one_step_changes_parameters(name):
    model = net()
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    method = build_method(name, {}, CTX)
    method.setup(model, opt)
    x, y = data()
    out = method.train_step(model, opt, x, y, StepInfo(0, 0, 2, 2))
    assert math.isfinite(out["loss"])
    assert any(not torch.equal(p, q) for p, q in zip(model.parameters(), before, strict=True))
    assert method.eval_logits(model(x)).shape == (8, 3)


@pytest.mark.parametrize("name", LOSS_METHODS)
def test_composes_with_lpg(name):
    assert "lpg" in METHODS  # a rename must fail here, not skip
    wrapper, base = method_classes(f"lpg+{name}")
    assert wrapper is METHODS.get("lpg") and base is METHODS.get(name)
    method = build_method(f"lpg+{name}", {}, CTX)
    model = net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    method.setup(model, opt)
    x, y = data()
    logits = model(x)
    # LPG changes the gradient, never the loss value.
    assert torch.allclose(method.loss(logits, y), build_method(name, {}, CTX).loss(logits, y))
    before = [p.detach().clone() for p in model.parameters()]
    for step in range(2):  # step 0 and 1 both run a meta step (meta_interval 1)
        out = method.train_step(model, opt, x, y, StepInfo(0, step, 2, 2))
        assert math.isfinite(out["loss"])
    assert any(not torch.equal(p, q) for p, q in zip(model.parameters(), before, strict=True))


@pytest.mark.parametrize(
    "name,params",
    [
        ("focal", {"gamma": -1.0}),
        ("cb", {"beta": 1.0}),
        ("cb", {"base_loss": "mse"}),
        ("ldam", {"s": 0.0}),
        ("ldam", {"max_margin": -0.1}),
        ("ldam_drw", {"drw_start": 1.5}),
        ("la", {"tau": -1.0}),
        ("la_posthoc", {"tau": -1.0}),
        ("ls", {"alpha": 1.5}),
        ("gce", {"q": 0.0}),
        ("sce", {"beta": -1.0}),
        ("lpl", {"rule": "tail"}),
        ("lpl", {"lpl_alpha": 0.0}),
        ("lpl", {"lpl_eps": 100.0, "lpl_alpha": 0.01}),
        ("lpl", {"lpl_head": 2.0}),
        ("bsoftmax", {"tau": 1.0}),
    ],
)
def test_bad_settings_are_user_errors_naming_the_setting(name, params):
    with pytest.raises(UserError, match=f"method.{next(iter(params))}"):
        build_method(name, params, CTX)
