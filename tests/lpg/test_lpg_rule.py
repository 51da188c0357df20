"""The closed-form rule variant (docs/method.md §3.2, last paragraph)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from lpg_testkit import TwoPass, assert_identical, build_problem, clone_pair, ctx, info

from lpg_meta.lpg import ClassRule
from lpg_meta.methods import METHODS, build_method
from lpg_meta.methods.ce import CrossEntropy


def test_magnitudes_on_a_hand_computed_q() -> None:
    q = torch.tensor([0.2, 0.5, 0.8])  # tau = 0.5
    rule = ClassRule(3, eps=0.05, d_eps=1.0, eps_max=0.5)
    # class 0 below average: +(0.05 + 0.3); class 1 at the average: 0; class 2 above: -(0.35)
    torch.testing.assert_close(rule.magnitudes(q), torch.tensor([0.35, 0.0, -0.35]))
    tight = ClassRule(3, eps=0.05, d_eps=1.0, eps_max=0.3)
    torch.testing.assert_close(tight.magnitudes(q), torch.tensor([0.3, 0.0, -0.3]))
    q4 = torch.tensor([0.1, 0.3, 0.6, 0.6])  # tau = 0.4
    rule4 = ClassRule(4, eps=0.1, d_eps=0.5, eps_max=0.9)
    torch.testing.assert_close(rule4.magnitudes(q4), torch.tensor([0.25, 0.15, -0.2, -0.2]))


def test_ema_update_of_the_true_class_probability() -> None:
    rule = ClassRule(3, ema=0.9)
    # row 0: p_0 = 3 / 5; row 1: p_0 = 1 / 3; row 2: p_1 = 3 / 5; class 2 absent
    logits = torch.tensor([[math.log(3.0), 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, math.log(3.0), 0.0]])
    rule.update(logits, torch.tensor([0, 0, 1]))
    mean0 = (0.6 + 1 / 3) / 2
    expected = torch.tensor([0.9 / 3 + 0.1 * mean0, 0.9 / 3 + 0.1 * 0.6, 1 / 3])
    torch.testing.assert_close(rule.q, expected)


def test_starts_as_the_base_method_then_reweights() -> None:
    model, optimizer, (x, y), _ = build_problem()
    ref_model, ref_opt = clone_pair(model, optimizer)
    ce = CrossEntropy({}, ctx())
    method = build_method("lpg_rule", {}, ctx())
    method.setup(model, optimizer)
    method.train_step(model, optimizer, x, y, info())
    ce.train_step(ref_model, ref_opt, x, y, info())
    assert_identical(model, optimizer, ref_model, ref_opt)  # uniform q: a = 0, exactly CE
    a = method.rule.magnitudes()
    assert a.abs().max() > 0  # q moved with the first batch
    # The next step is class-level reweighting with (1 + a_y).
    before = clone_pair(model, optimizer)
    method.train_step(model, optimizer, x, y, info(step=1))
    ref_model, ref_opt = before
    ref_opt.zero_grad()
    weights = 1 + a[y].double()
    (weights * F.cross_entropy(ref_model(x), y, reduction="none")).mean().backward()
    ref_opt.step()
    for p, r in zip(model.parameters(), ref_model.parameters(), strict=True):
        torch.testing.assert_close(p, r, rtol=1e-12, atol=1e-14)


def test_two_pass_base_updates_q_once_per_step() -> None:
    model, optimizer, (x, y), _ = build_problem()
    method = METHODS.get("lpg_rule")(
        dict(METHODS.get("lpg_rule").defaults), ctx(), base=TwoPass({}, ctx())
    )
    method.setup(model, optimizer)
    single = ClassRule(3)
    with torch.no_grad():
        single.update(model(x), y)
    method.train_step(model, optimizer, x, y, info())
    torch.testing.assert_close(method.rule.q, single.q)


def test_rule_record() -> None:
    model, optimizer, (x, y), _ = build_problem()
    method = build_method("lpg_rule", {"eps": 0.1}, ctx())
    method.setup(model, optimizer)
    for step in range(3):
        method.train_step(model, optimizer, x, y, info(step=step))
    method.on_epoch_end(0)
    rec = method.record()["lpg"]
    assert rec["form"] == "rule" and len(rec["trajectory"]) == 1 and len(rec["q"][0]) == 3
    assert rec["trajectory"][0] == method.rule.magnitudes().tolist()
