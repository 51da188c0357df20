"""The registered LPG methods: exactness at phi = 0, plug-in composition, settings and records."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from lpg_testkit import (
    TwoPass,
    assert_identical,
    build_problem,
    clone_pair,
    ctx,
    info,
    perturbed_ce,
)

from lpg_meta.errors import UserError
from lpg_meta.methods import METHODS, build_method, method_classes
from lpg_meta.methods.ce import CrossEntropy


@pytest.mark.parametrize("batch", [8, 6, 100])  # 6 and 100: batch sizes that are not powers of two
@pytest.mark.parametrize("backend", ["higher", "torchfunc"])
@pytest.mark.parametrize("settings", [{"meta_lr": 0.0}, {"warmup_epochs": 1}])
def test_phi_zero_step_is_the_base_step(settings: dict, backend: str, batch: int) -> None:
    model, optimizer, (x, y), meta_batch = build_problem(warm=2, batch=batch)
    ref_model, ref_opt = clone_pair(model, optimizer)
    CrossEntropy({}, ctx()).train_step(ref_model, ref_opt, x, y, info())
    # matrix form with zero_sum and normalize on (the defaults); meta_lr 0 runs the whole virtual
    # step yet keeps phi at 0, so the real step must not notice it happened.
    lpg = build_method("lpg", {**settings, "backend": backend}, ctx(meta_batch))
    lpg.setup(model, optimizer)
    lpg.train_step(model, optimizer, x, y, info())
    assert torch.equal(lpg.form.phi, torch.zeros_like(lpg.form.phi))
    assert_identical(model, optimizer, ref_model, ref_opt)


def test_nonzero_phi_step_differs_from_the_base_step() -> None:
    model, optimizer, (x, y), meta_batch = build_problem()
    ref_model, ref_opt = clone_pair(model, optimizer)
    CrossEntropy({}, ctx()).train_step(ref_model, ref_opt, x, y, info())
    lpg = build_method("lpg", {"warmup_epochs": 1}, ctx(meta_batch))
    lpg.setup(model, optimizer)
    with torch.no_grad():
        lpg.form.phi[0, 1] = 0.5
    lpg.train_step(model, optimizer, x, y, info())
    with pytest.raises(AssertionError):
        assert_identical(model, optimizer, ref_model, ref_opt)


def test_plug_in_perturbs_every_pass_of_a_step_based_base() -> None:
    model, optimizer, (x, y), meta_batch = build_problem()
    ref_model, ref_opt = clone_pair(model, optimizer)
    lpg = METHODS.get("lpg_scale")(
        {**METHODS.get("lpg_scale").defaults, "warmup_epochs": 1},
        ctx(meta_batch),
        base=TwoPass({}, ctx()),
    )
    lpg.setup(model, optimizer)
    with torch.no_grad():
        lpg.form.phi.copy_(torch.tensor([0.9, -0.4, 0.2]))
    lpg.train_step(model, optimizer, x, y, info())
    loss = perturbed_ce(lpg.form.frozen())
    ref_opt.zero_grad()
    loss(ref_model(x), y).backward()
    loss(ref_model(x), y).backward()
    ref_opt.step()
    assert_identical(model, optimizer, ref_model, ref_opt)


def test_lpg_sam_composes_and_steps() -> None:
    assert "sam" in METHODS  # a rename must fail here, not skip
    model, optimizer, (x, y), meta_batch = build_problem()
    method = build_method("lpg+sam", {"backend": "torchfunc"}, ctx(meta_batch))
    method.setup(model, optimizer)
    assert "loss" in method.train_step(model, optimizer, x, y, info())
    assert method.form.phi.abs().sum() > 0


def test_backends_give_the_same_meta_update() -> None:
    phis = []
    for backend in ("higher", "torchfunc"):
        model, optimizer, (x, y), meta_batch = build_problem()
        method = build_method("lpg_shift", {"backend": backend}, ctx(meta_batch))
        method.setup(model, optimizer)
        method.train_step(model, optimizer, x, y, info())
        phis.append(method.form.phi.detach())
    torch.testing.assert_close(phis[0], phis[1], rtol=1e-10, atol=1e-12)


def test_record_after_two_epochs() -> None:
    model, optimizer, (x, y), meta_batch = build_problem()
    method = build_method("lpg", {"warmup_epochs": 1, "meta_interval": 2}, ctx(meta_batch))
    method.setup(model, optimizer)
    step = 0
    for epoch in range(2):
        for _ in range(3):
            method.train_step(model, optimizer, x, y, info(epoch, step))
            step += 1
        method.on_epoch_end(epoch)
    rec = json.loads(json.dumps(method.record()))["lpg"]  # JSON-ready
    assert rec["form"] == "matrix" and rec["backend"] == "jvp" and rec["backend_requested"] == "auto"
    assert len(rec["trajectory"]) == 2 and len(rec["trajectory"][0]) == 3
    assert rec["trajectory"][0] == [0.0, 0.0, 0.0] and rec["trajectory"][1] != [0.0, 0.0, 0.0]
    assert rec["meta_loss"][0] is None and rec["meta_loss"][1] > 0  # one meta step: step 4
    assert rec["time_meta_s"] > 0 and rec["time_real_s"] > 0
    assert torch.tensor(rec["A"]).shape == (3, 3)
    assert torch.allclose(
        torch.tensor(rec["A"]).diagonal(), torch.tensor(rec["trajectory"][1]).float()
    )


def test_meta_loss_is_the_clean_meta_ce_after_the_look_ahead() -> None:
    model, optimizer, (x, y), meta_batch = build_problem()
    method = build_method("lpg_clip", {"meta_lr": 0.0}, ctx(meta_batch))
    method.setup(model, optimizer)
    # Reference: the real step at the same (unchanged, meta_lr 0) phi, then the meta CE.
    ref_model, ref_opt = clone_pair(model, optimizer)
    ref_opt.zero_grad()
    perturbed_ce(method.form.frozen())(ref_model(x), y).backward()
    ref_opt.step()
    with torch.no_grad():
        after = F.cross_entropy(ref_model(meta_batch[0]), meta_batch[1]).item()
        now = F.cross_entropy(clone_pair(model, optimizer)[0](meta_batch[0]), meta_batch[1]).item()
    method.train_step(model, optimizer, x, y, info())
    assert method.meta.logged() == [pytest.approx(after, rel=1e-12)]
    assert abs(after - now) > 1e-6  # the look-ahead matters


@pytest.mark.parametrize(
    "name, settings, key",
    [
        ("lpg", {"eps": 1.0}, "method.eps"),
        ("lpg_scale", {"eps": -0.1}, "method.eps"),
        ("lpg", {"backend": "jax"}, "method.backend"),
        ("lpg", {"meta_optimizer": "rmsprop"}, "method.meta_optimizer"),
        ("lpg_clip", {"tau_max": 0.0}, "method.tau_max"),
        ("lpg_clip", {"eps": 0.1}, "method.eps"),  # clip has no eps: unknown setting
        ("lpg_shift", {"meta_interval": 0}, "method.meta_interval"),
        ("lpg_rule", {"eps_max": 1.0}, "method.eps_max"),
    ],
)
def test_invalid_settings_name_their_key(name: str, settings: dict, key: str) -> None:
    with pytest.raises(UserError, match=key.replace(".", r"\.")):
        build_method(name, settings, ctx())


def test_setup_errors() -> None:
    model, optimizer, _, meta_batch = build_problem()
    adam = torch.optim.Adam(model.parameters())
    with pytest.raises(UserError, match="method.backend"):
        build_method("lpg", {"backend": "torchfunc"}, ctx(meta_batch)).setup(model, adam)


def test_registry_kinds_and_composition() -> None:
    for name in ("lpg", "lpg_scale", "lpg_shift", "lpg_clip"):
        cls, _ = method_classes(name)
        assert cls.kind == "meta" and cls.needs_meta and cls.accepts_bases == ("loss", "step")
    rule, _ = method_classes("lpg_rule")
    assert rule.kind == "loss" and not rule.needs_meta
    assert isinstance(build_method("lpg", {}, ctx()).base, CrossEntropy)
    _, base = method_classes("lpg+ce")
    assert base is CrossEntropy
    with pytest.raises(UserError, match="Meta-based methods"):
        method_classes("lpg+lpg_scale")


@pytest.mark.parametrize("name", ["lpg", "lpg_scale", "lpg_shift", "lpg_clip"])
def test_search_spaces(name: str) -> None:
    cls, _ = method_classes(name)
    space = cls.search_space
    assert set(space) <= set(cls.defaults)
    assert space["meta_lr"] == ("log", 1e-4, 1e-1)
    assert space["meta_optimizer"] == ("categorical", ["adam", "sgd"])
    assert {"phi_decay", "warmup_epochs"} <= set(space)
    if "eps" in cls.defaults:
        assert (
            space["eps"][0] in ("log", "float") and space["eps"][1] <= 1e-3 and space["eps"][2] < 1
        )
