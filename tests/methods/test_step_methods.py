"""The parameter-level methods clip, gnoise and sam register and train."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lpg_meta.catalog import method_search_space
from lpg_meta.errors import UserError
from lpg_meta.methods import METHODS, StepInfo, TrainContext, build_method

CTX = TrainContext(num_classes=3, class_counts=[8, 8, 8], epochs=1, steps_per_epoch=4)
NAMES = ("clip", "gnoise", "sam")


def net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))


def data():
    g = torch.Generator().manual_seed(1)
    return torch.randn(8, 4, generator=g), torch.randint(0, 3, (8,), generator=g)


@pytest.mark.parametrize("name", NAMES)
def test_registered_with_declared_settings(name):
    assert name in METHODS
    cls = METHODS.get(name)
    assert cls.kind == "step"
    assert cls.name == name
    space = method_search_space(name)
    assert space and set(space) <= set(cls.defaults)
    for spec in space.values():
        assert spec[0] in ("log", "float", "int", "categorical")


def test_declared_defaults_and_spaces():
    assert METHODS.get("clip").defaults == {"max_norm": 5.0}
    assert METHODS.get("gnoise").defaults == {"eta": 0.01, "gamma": 0.55, "max_norm": 0.0}
    assert METHODS.get("sam").defaults == {"rho": 0.05}
    assert method_search_space("gnoise") == {"eta": ("categorical", [0.01, 0.3, 1.0])}
    assert method_search_space("clip") == {"max_norm": ("log", 0.1, 10.0)}
    assert method_search_space("sam") == {"rho": ("log", 0.01, 0.5)}


@pytest.mark.parametrize("name", NAMES)
def test_one_step_changes_parameters_with_finite_loss(name):
    model = net()
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    method = build_method(name, {}, CTX)
    method.setup(model, opt)
    x, y = data()
    out = method.train_step(model, opt, x, y, StepInfo(0, 0, 4, 1))
    assert math.isfinite(out["loss"])
    assert any(not torch.equal(p, q) for p, q in zip(model.parameters(), before, strict=True))
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_clip_step_equals_ce_step_with_torch_clipping():
    model = net()
    ref = copy.deepcopy(model)
    x, y = data()
    opt, opt_ref = (
        torch.optim.SGD(model.parameters(), lr=0.1),
        torch.optim.SGD(ref.parameters(), lr=0.1),
    )
    build_method("clip", {"max_norm": 0.05}, CTX).train_step(model, opt, x, y, StepInfo(0, 0, 4, 1))
    opt_ref.zero_grad()
    F.cross_entropy(ref(x), y).backward()
    torch.nn.utils.clip_grad_norm_(ref.parameters(), 0.05)
    opt_ref.step()
    for p, q in zip(model.parameters(), ref.parameters(), strict=True):
        assert torch.equal(p, q)


@pytest.mark.parametrize(
    "name,params",
    [
        ("clip", {"max_norm": 0.0}),
        ("gnoise", {"eta": -1.0}),
        ("gnoise", {"max_norm": -1.0}),
        ("sam", {"rho": -0.1}),
    ],
)
def test_bad_settings_are_user_errors(name, params):
    with pytest.raises(UserError):
        build_method(name, params, CTX)


def test_unknown_setting_is_rejected():
    with pytest.raises(UserError):
        build_method("sam", {"max_norm": 1.0}, CTX)
