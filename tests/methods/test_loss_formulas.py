"""Each loss baseline of docs/method.md §4 on a hand-computed case (2 or 3 classes).

Expected values are typed out with ``math``; they are not the implementation's torch expressions.
Logits are float64, so the tolerance can be tight.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from lpg_meta.methods import StepInfo, TrainContext, build_method
from lpg_meta.methods.lpl import balanced_signs, pgd_steps

E = math.e


def ctx(counts: list[int], epochs: int = 10) -> TrainContext:
    return TrainContext(
        num_classes=len(counts), class_counts=counts, epochs=epochs, steps_per_epoch=1
    )


def t(rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)


def per_sample(
    name: str, params: dict, counts: list[int], u: list[list[float]], y: list[int]
) -> list[float]:
    return build_method(name, params, ctx(counts)).per_sample_loss(t(u), torch.tensor(y)).tolist()


def test_focal():
    # u = [1, 0], y = 1: p_y = 1 / (1 + e) = 0.268941, CE = ln(1 + e) = 1.313262.
    p, ce = 1 / (1 + E), math.log(1 + E)
    # gamma 1: 0.731059 * 1.313262 = 0.960071; gamma 2: 0.731059^2 * 1.313262 = 0.701868.
    assert per_sample("focal", {"gamma": 1.0}, [1, 1], [[1, 0]], [1]) == pytest.approx(
        [(1 - p) * ce]
    )
    assert per_sample("focal", {"gamma": 2.0}, [1, 1], [[1, 0]], [1]) == pytest.approx(
        [(1 - p) ** 2 * ce]
    )


def test_focal_gradient_is_finite_where_p_y_rounds_to_one():
    u = t([[200.0, 0.0]]).requires_grad_()
    build_method("focal", {"gamma": 0.5}, ctx([1, 1])).loss(u, torch.tensor([0])).backward()
    assert torch.isfinite(u.grad).all()


def test_cb_weights_sum_to_c_and_batch_loss_is_the_weighted_mean():
    # counts [1, 2, 3], beta 0.5: (1 - b) / (1 - b^n) = [1, 2/3, 4/7], sum 47/21;
    # times 3 / (47/21): w = [63/47, 42/47, 36/47] (sum 3).
    method = build_method("cb", {"beta": 0.5}, ctx([1, 2, 3]))
    w = [63 / 47, 42 / 47, 36 / 47]
    assert method.weights.tolist() == pytest.approx(w)
    # u = [[0,0,0], [1,0,0]], y = [0, 2]: CE = ln 3, ln(e + 2) = 1.098612, 1.551445.
    l0, l2 = math.log(3), math.log(E + 2)
    u, y = t([[0, 0, 0], [1, 0, 0]]), torch.tensor([0, 2])
    # Weighted mean (w0 l0 + w2 l2) / (w0 + w2) = 1.263279; the plain mean of w l would be 1.330474.
    mean = (w[0] * l0 + w[2] * l2) / (w[0] + w[2])
    assert method.loss(u, y).item() == pytest.approx(mean)
    assert method.per_sample_loss(u, y).tolist() == pytest.approx(
        [2 * w[0] * l0 / (w[0] + w[2]), 2 * w[2] * l2 / (w[0] + w[2])]
    )


def test_cb_with_focal():
    # Same batch, focal gamma 1: l = (1 - p_y) CE with p_y = 1/3 and 1 / (e + 2).
    w = [63 / 47, 42 / 47, 36 / 47]
    l0 = (1 - 1 / 3) * math.log(3)
    l2 = (1 - 1 / (E + 2)) * math.log(E + 2)
    method = build_method("cb", {"beta": 0.5, "base_loss": "focal", "gamma": 1.0}, ctx([1, 2, 3]))
    loss = method.loss(t([[0, 0, 0], [1, 0, 0]]), torch.tensor([0, 2])).item()
    assert loss == pytest.approx((w[0] * l0 + w[2] * l2) / (w[0] + w[2]))  # Cui et al.'s form
    # Not LDAM-DRW's FocalLoss(weight=w): mean_i (1 - exp(-w_i CE_i)) w_i CE_i = 0.9806 here,
    # against 0.9107 above.
    ce0, ce2 = w[0] * math.log(3), w[2] * math.log(E + 2)
    ldam_drw_form = ((1 - math.exp(-ce0)) * ce0 + (1 - math.exp(-ce2)) * ce2) / 2
    assert abs(loss - ldam_drw_form) > 0.05


def test_ldam_margins_follow_n_to_the_minus_quarter():
    # counts [81, 16, 1]: n^(-1/4) = [1/3, 1/2, 1]; scaled so the largest is 0.5: [1/6, 1/4, 1/2].
    method = build_method("ldam", {}, ctx([81, 16, 1]))
    assert method.margins.tolist() == pytest.approx([1 / 6, 1 / 4, 1 / 2])


def test_ldam_margin_on_the_true_logit_then_scaled():
    # counts [1, 16]: margins [0.5, 0.25]; s = 2, u = [1, 0.5].
    # y = 1: 2 * ([1, 0.5] - [0, 0.25]) = [2, 0.5] -> ln(1 + e^1.5) = 1.701413
    #   (s * u - m would give [2, 0.75] -> 1.501929; the margin on logit 0 would give ln(1 + e^-1.5)).
    # y = 0: 2 * ([1, 0.5] - [0.5, 0]) = [1, 1] -> ln 2.
    got = per_sample("ldam", {"s": 2.0}, [1, 16], [[1, 0.5], [1, 0.5]], [1, 0])
    assert got == pytest.approx([math.log(1 + math.exp(1.5)), math.log(2)])


def test_ldam_drw_switches_weights_on_at_80_percent_of_epochs():
    # counts [1, 2, 3], beta 0.5: w as in the cb test; margins 0.5 * [1, 2^-1/4, 3^-1/4]; s = 2.
    # Zero logits: l_c = CE(2 * (0 - m_c e_c), c) = ln(e^(-2 m_c) + 2) + 2 m_c.
    method = build_method("ldam_drw", {"beta": 0.5, "s": 2.0}, ctx([1, 2, 3], epochs=10))
    w = [63 / 47, 42 / 47, 36 / 47]
    m = [0.5, 0.5 * 2**-0.25, 0.5 * 3**-0.25]
    l0, l2 = (math.log(math.exp(-2 * mc) + 2) + 2 * mc for mc in (m[0], m[2]))
    off, on = (l0 + l2) / 2, (w[0] * l0 + w[2] * l2) / (w[0] + w[2])
    u, y = t([[0, 0, 0], [0, 0, 0]]), torch.tensor([0, 2])

    model = nn.Linear(2, 3).double()
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    x = torch.zeros(2, 2, dtype=torch.float64)
    for epoch, expected in ((0, off), (7, off), (8, on), (9, on)):  # 8 = 0.8 * 10 epochs
        method.train_step(model, opt, x, y, StepInfo(epoch, epoch, 1, 10))
        assert method.loss(u, y).item() == pytest.approx(expected), epoch
    method.train_step(model, opt, x, y, StepInfo(7, 7, 1, 10))
    # The hook alone moves it into epoch 8 (an LPG look-ahead runs before the next train_step).
    method.on_epoch_end(7)
    assert method.loss(u, y).item() == pytest.approx(on)


def test_la_adds_tau_log_prior_in_training():
    # counts [9, 1]: pi = [0.9, 0.1]; u = [0, 0], y = 1.
    # tau 1: CE([ln .9, ln .1], 1) = ln((0.9 + 0.1) / 0.1) = ln 10 = 2.302585 (minus sign: ln 1.1111).
    # tau 2: CE([2 ln .9, 2 ln .1], 1) = ln((0.81 + 0.01) / 0.01) = ln 82 = 4.406719.
    assert per_sample("la", {"tau": 1.0}, [9, 1], [[0, 0]], [1]) == pytest.approx([math.log(10)])
    assert per_sample("la", {"tau": 2.0}, [9, 1], [[0, 0]], [1]) == pytest.approx([math.log(82)])
    assert build_method("la", {}, ctx([9, 1])).eval_logits(t([[0, 0]])).tolist() == [[0, 0]]


def test_la_posthoc_trains_with_ce_and_subtracts_tau_log_prior_at_prediction():
    method = build_method("la_posthoc", {"tau": 1.0}, ctx([9, 1]))
    assert method.per_sample_loss(t([[0, 0]]), torch.tensor([1])).tolist() == pytest.approx(
        [math.log(2)]
    )
    # u - log pi = [-ln .9, -ln .1] = [0.105361, 2.302585]: the rare class wins the tie.
    adjusted = method.eval_logits(t([[0, 0]]))
    assert adjusted[0].tolist() == pytest.approx([-math.log(0.9), -math.log(0.1)])
    assert adjusted.argmax(1).item() == 1


def test_bsoftmax_adds_log_counts():
    # counts [9, 1], u = [0, 0], y = 1: CE([ln 9, ln 1], 1) = ln((9 + 1) / 1) = ln 10.
    # log n_c and log pi_c differ by ln N in every column, which CE cannot see, so counts vs
    # priors is not testable through the loss: the loss equals la with tau = 1 on any logits.
    assert per_sample("bsoftmax", {}, [9, 1], [[0, 0]], [1]) == pytest.approx([math.log(10)])
    u, y = torch.randn(5, 3, dtype=torch.float64), torch.tensor([0, 1, 2, 2, 1])
    bs = build_method("bsoftmax", {}, ctx([50, 7, 3])).per_sample_loss(u, y)
    la = build_method("la", {"tau": 1.0}, ctx([50, 7, 3])).per_sample_loss(u, y)
    assert torch.allclose(bs, la)
    # An empty class counts as 1 (log 1 = 0), so the case above is unchanged and finite.
    assert per_sample("bsoftmax", {}, [9, 0], [[0, 0]], [1]) == pytest.approx([math.log(10)])
    assert build_method("bsoftmax", {}, ctx([9, 1])).eval_logits(t([[0, 0]])).tolist() == [[0, 0]]


def test_label_smoothing_spreads_alpha_over_all_classes():
    # u = [1, 0, 0], y = 0: log p = [1 - ln(e + 2), -ln(e + 2), -ln(e + 2)].
    # target (0.9 + 0.1/3, 0.1/3, 0.1/3): 0.618111 (alpha / (C - 1) on the others would give 0.651445).
    z = math.log(E + 2)
    expected = -(0.9 + 0.1 / 3) * (1 - z) + 2 * (0.1 / 3) * z
    assert per_sample("ls", {}, [1, 1, 1], [[1, 0, 0]], [0]) == pytest.approx([expected])


def test_gce():
    # u = [1, 0], y = 0: p_y = e / (1 + e) = 0.731059; (1 - p^0.7) / 0.7 = 0.281294.
    p = E / (1 + E)
    assert per_sample("gce", {}, [1, 1], [[1, 0]], [0]) == pytest.approx([(1 - p**0.7) / 0.7])


def test_sce_clips_log_zero_at_minus_four():
    # u = [1, 0], y = 1: p_y = 0.268941, CE = 1.313262; RCE = -(p_0 * (-4) + p_1 * 0) = 4 (1 - p_y).
    # 0.1 * 1.313262 + 1.0 * 2.924234 = 3.055560 (log 1e-4 = -9.21 would give 6.865).
    p, ce = 1 / (1 + E), math.log(1 + E)
    assert per_sample("sce", {}, [1, 1], [[1, 0]], [1]) == pytest.approx([0.1 * ce + 4 * (1 - p)])
    got = per_sample("sce", {"alpha": 6.0, "beta": 0.1}, [1, 1], [[1, 0]], [1])
    assert got == pytest.approx([6.0 * ce + 0.4 * (1 - p)])


def _ce(v: list[float], y: int) -> float:
    return math.log(sum(math.exp(a) for a in v)) - v[y]


def test_lpl_balanced_rule_direction_sign_and_step_count():
    # Sample A: class 0, u = [2, 0], p_y = e^2 / (1 + e^2) = 0.880797; sample B: class 1, u = [0, 0], p_y = 0.5.
    # tau = 0.690399, so class 0 (learned better) gets s = -1 and class 1 (worse) s = +1.
    # K = floor(0.38 / 0.1) = 3 (rounding would give 4). With 2 classes the CE logit gradient is
    # always along [-1, 1] (class 0) or [1, -1] (class 1), so the unit direction never changes:
    # delta_0 = -3 * 0.1 * [-1, 1] / sqrt 2 = [d, -d], delta_1 = +3 * 0.1 * [1, -1] / sqrt 2 = [d, -d],
    # d = 0.3 / sqrt 2 = 0.212132: A's true logit is pushed up, B's down.
    method = build_method(
        "lpl", {"rule": "balanced", "lpl_eps": 0.38, "lpl_alpha": 0.1}, ctx([1, 1])
    )
    u, y = t([[2, 0], [0, 0]]), torch.tensor([0, 1])
    assert method.steps.tolist() == [3, 3]
    assert balanced_signs(u, y).tolist() == [-1, 1]
    d = 0.3 / math.sqrt(2)
    assert method.delta(u, y).flatten().tolist() == pytest.approx([d, -d, d, -d])
    # CE(A + delta_0, 0) = 0.084840 (< 0.126928 unperturbed); CE(B + delta_1, 1) = 0.927612 (> ln 2).
    u.requires_grad_()
    losses = method.per_sample_loss(u, y)
    assert losses.tolist() == pytest.approx([_ce([2 + d, -d], 0), _ce([d, -d], 1)])
    # delta is a constant of the backward pass: the logit gradient is softmax(u + delta) - e_y.
    losses[1].backward()
    s = 1 / (1 + math.exp(-2 * d))  # softmax([d, -d])_0
    assert u.grad.flatten().tolist() == pytest.approx([0, 0, s, -s])  # p_1 - 1 = -p_0


def test_lpl_longtail_rule_signs_bounds_and_mean_class_direction():
    # counts [1, 8, 4], lpl_head 1/3: one head class, the most frequent (class 1): s = [+1, -1, +1].
    # eps_c: tail n_min / n_c, head n_c / n_max: 0.5 * [1/1, 8/8, 1/4] = [0.5, 0.5, 0.125].
    params = {"rule": "longtail", "lpl_eps": 0.5, "lpl_head": 1 / 3}
    method = build_method("lpl", {**params, "lpl_alpha": 0.125}, ctx([1, 8, 4]))
    assert method.signs.tolist() == [1, -1, 1]
    assert method.steps.tolist() == [4, 4, 1]  # floor([0.5, 0.5, 0.125] / 0.125)
    method = build_method("lpl", {**params, "lpl_alpha": 0.5}, ctx([1, 8, 4]))
    assert method.steps.tolist() == [1, 1, 0]
    # Two class-0 samples, u = [0, 0, 0] (p = [1/3, 1/3, 1/3]) and [0, ln 2, 0] (p = [1/4, 1/2, 1/4]).
    # Mean gradient: [7/24, 10/24, 7/24] - [1, 0, 0] = [-17, 10, 7] / 24; unit: [-17, 10, 7] / sqrt 438.
    # One step (K_0 = 1), positive: delta_0 = 0.5 * [-17, 10, 7] / sqrt 438.
    u, y = t([[0, 0, 0], [0, math.log(2), 0]]), torch.tensor([0, 0])
    delta0 = [0.5 * v / math.sqrt(438) for v in (-17, 10, 7)]
    assert method.delta(u, y)[0].tolist() == pytest.approx(delta0)
    rows = [[a + b for a, b in zip(r, delta0, strict=True)] for r in u.tolist()]
    assert method.per_sample_loss(u, y).tolist() == pytest.approx([_ce(r, 0) for r in rows])


def test_lpl_step_count_is_floor_with_a_float_tolerance():
    # 0.3 / 0.1 = 2.9999999999999996 in floats; the bound means 3 steps.
    eps_c = torch.tensor([0.3, 0.38, 0.05], dtype=torch.float64)
    assert pgd_steps(eps_c, 0.1).tolist() == [3, 3, 0]


def test_lpl_direction_is_retaken_at_every_step():
    # One class-0 sample u = [0, ln 2, 0]; counts [1, 8, 4] as above, eps 0.5, alpha 0.25: K_0 = 2.
    # Step 1: p = [1/4, 1/2, 1/4], g = [-3, 2, 1] / 4, unit [-3, 2, 1] / sqrt 14.
    # Step 2: p = softmax(u + delta_1) = [0.1961, 0.5477, 0.2562]: g = p - e_0 is no longer
    # parallel to [-3, 2, 1], so a direction taken once would miss.
    params = {"rule": "longtail", "lpl_eps": 0.5, "lpl_head": 1 / 3, "lpl_alpha": 0.25}
    method = build_method("lpl", params, ctx([1, 8, 4]))
    assert method.steps.tolist()[0] == 2
    u = [0.0, math.log(2), 0.0]
    delta = [0.25 * v / math.sqrt(14) for v in (-3, 2, 1)]
    exps = [math.exp(a + d) for a, d in zip(u, delta, strict=True)]
    g = [exps[0] / sum(exps) - 1, exps[1] / sum(exps), exps[2] / sum(exps)]
    norm = math.sqrt(sum(v * v for v in g))
    delta = [d + 0.25 * v / norm for d, v in zip(delta, g, strict=True)]
    assert method.delta(t([u]), torch.tensor([0]))[0].tolist() == pytest.approx(delta)


def _unit_grad(v: list[float], y: int) -> list[float]:
    """The unit CE logit gradient ``softmax(v) - e_y`` of one sample, in plain floats."""
    exps = [math.exp(a) for a in v]
    g = [e / sum(exps) - (i == y) for i, e in enumerate(exps)]
    norm = math.sqrt(sum(x * x for x in g))
    return [x / norm for x in g]


@pytest.mark.parametrize("double_add", [False, True])
def test_lpl_once_or_double_add_by_hand(double_add):
    # One class-0 sample u = [0, ln 2, 0] and one class-2 sample u = [1, 0, 0]; counts [1, 8, 4],
    # long-tail rule, eps 0.5, alpha 0.25: K = [2, 2, 0] (class 2: 0.125 / 0.25 rounds down).
    # Once: two steps, delta_0 = a d(u) + a d(u + a d(u)).
    # Double (lpl-balanced/train_lpl.py): every step is added twice to the logits the next step
    # starts from and the kept logits are logit_steps[K] = after step K + 1 =
    # u + 2a d1 + 2a d2 + a d3, with d1 = d(u), d2 = d(u + 2a d1), d3 = d(u + 2a d1 + 2a d2):
    # five increments of alpha. Class 2 (K = 0) stays unperturbed in both.
    a = 0.25
    params = {"rule": "longtail", "lpl_eps": 0.5, "lpl_head": 1 / 3, "lpl_alpha": a, "double_add": double_add}
    method = build_method("lpl", params, ctx([1, 8, 4]))
    assert method.steps.tolist() == [2, 2, 0]
    u = [0.0, math.log(2), 0.0]
    start, kept = list(u), list(u)
    for k in range(3 if double_add else 2):
        d = _unit_grad(start, 0)
        weight_kept = (2 if k < 2 else 1) if double_add else 1
        kept = [x + weight_kept * a * g for x, g in zip(kept, d, strict=True)]
        start = [x + (2 if double_add else 1) * a * g for x, g in zip(start, d, strict=True)]
    expected = [k - x for k, x in zip(kept, u, strict=True)]
    delta = method.delta(t([u, [1.0, 0.0, 0.0]]), torch.tensor([0, 2]))
    assert delta[0].tolist() == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert delta[2].tolist() == [0.0, 0.0, 0.0]
    # Sizes: once, at most 2a = 0.5 (eps); double, between 3a and 5a (directions that turn).
    size = math.sqrt(sum(x * x for x in expected))
    assert (0.74 < size <= 5 * a) if double_add else (0.45 < size <= 2 * a)
    # The loss adds delta_y, and the run records the mean ||delta_y|| of the epoch's samples.
    u_batch = t([u, [1.0, 0.0, 0.0]])
    losses = method.per_sample_loss(u_batch, torch.tensor([0, 2]))
    assert losses[0].item() == pytest.approx(_ce(kept, 0), rel=1e-12)
    method.on_epoch_end(0)
    assert method.record() == {"lpl": {"perturbation_norm": [pytest.approx(size / 2, rel=1e-12)]}}


def test_lpl_double_add_in_two_classes_is_seven_thirds_of_once():
    # The balanced case above (K = 3, 2 classes: the direction never turns): once moves 3 alpha,
    # double 2 * 3 + 1 = 7 alpha along the same direction.
    u, y = t([[2, 0], [0, 0]]), torch.tensor([0, 1])
    params = {"rule": "balanced", "lpl_eps": 0.38, "lpl_alpha": 0.1}
    once = build_method("lpl", params, ctx([1, 1])).delta(u, y)
    double = build_method("lpl", {**params, "double_add": True}, ctx([1, 1])).delta(u, y)
    assert double.flatten().tolist() == pytest.approx((7 / 3 * once).flatten().tolist(), rel=1e-12)


def test_lpl_double_add_is_left_out_of_configs_while_false():
    from lpg_meta.config import resolve_config
    from lpg_meta.errors import UserError

    # Exactly the keys lpl runs were recorded with: their config hashes do not change.
    assert set(resolve_config({"method": "lpl"})["method_params"]) == {"rule", "lpl_eps", "lpl_alpha", "lpl_head"}
    assert "double_add" not in resolve_config({"method": "lpl", "method_params": {"double_add": False}})[
        "method_params"]  # fmt: skip
    assert resolve_config({"method": "lpl", "method_params": {"double_add": True}})["method_params"][
        "double_add"] is True  # fmt: skip
    with pytest.raises(UserError, match="method.double_add"):
        build_method("lpl", {"double_add": "yes"}, ctx([1, 1]))
