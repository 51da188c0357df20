"""The per-class amplification ||g~|| / ||g||: hand-computed cases, and through training."""

from __future__ import annotations

import json
import math

import pytest
import torch

from lpg_meta.config import resolve_config
from lpg_meta.lpg import AmplificationLog, build_form
from lpg_meta.methods import TrainContext
from lpg_meta.methods.lpg_fixed import pick_classes
from lpg_meta.train.trainer import train


def _scale_form(a: list[float], normalize: bool) -> torch.nn.Module:
    form = build_form("scale", len(a), eps=0.5, normalize=normalize).double()
    with torch.no_grad():  # a_c = eps * tanh(phi_c)
        form.phi.copy_(torch.atanh(torch.tensor(a, dtype=torch.float64) / 0.5))
    return form


def test_scale_form_ratios_on_a_hand_case() -> None:
    # a = (0.25, -0.25, 0), labels (0, 0, 1, 2): multipliers 1.25, 1.25, 0.75, 1, batch mean 1.0625 = 17/16.
    # Normalised: 20/17, 20/17, 12/17, 16/17; unnormalised: 1 + a_y.
    y = torch.tensor([0, 0, 1, 2])
    g = torch.randn(4, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for normalize, expected in ((True, [20 / 17, 12 / 17, 16 / 17]), (False, [1.25, 0.75, 1.0])):
        log = AmplificationLog(3)
        log.wrap(_scale_form([0.25, -0.25, 0.0], normalize).frozen())(g, y)
        log.end_epoch()
        assert log.per_epoch[0] == pytest.approx(expected, rel=1e-12)  # float64 throughout


def test_a_class_mean_is_over_its_samples_and_epochs_are_separate() -> None:
    log = AmplificationLog(3)
    g = torch.tensor([[1.0, -1.0, 0.0], [3.0, 0.0, -4.0], [0.0, 0.0, 0.0]])
    g_tilde = torch.tensor([[2.0, -2.0, 0.0], [0.0, 0.0, -1.0], [5.0, 0.0, 0.0]])
    log.add(g, g_tilde, torch.tensor([0, 0, 2]))  # class 0: ratios 2 and 1/5; class 2: ||g|| = 0, left out
    log.end_epoch()
    log.add(g[:1], g[:1], torch.tensor([1]))
    log.end_epoch()
    assert log.per_epoch == [[pytest.approx(1.1), None, None], [None, 1.0, None]]


def test_pick_classes() -> None:
    counts = [100, 60, 40, 20, 20, 10]  # median 30: the three below it
    ctx = TrainContext(num_classes=6, class_counts=counts, epochs=1, steps_per_epoch=1)
    assert pick_classes("tail", ctx, 0.05) == [3, 4, 5]
    ctx.class_noise_rates = [0.0, 0.0, 0.41, 0.38, None, 0.0]  # mean 0.158: + 0.05 -> 0.208
    assert pick_classes("noisy", ctx, 0.05) == [2, 3]
    ctx.class_noise_rates = [0.39, 0.41, 0.395, 0.42, 0.38, 0.405]  # pair noise: mean 0.4
    assert pick_classes("noisy", ctx, 0.05) == [] and pick_classes("noisy", ctx, 0.0) == [1, 3, 5]


@pytest.mark.parametrize("a", [0.5, -0.5])
def test_lpg_fixed_amplifies_exactly_the_tail_classes(a: float, tmp_path) -> None:
    cfg = resolve_config({"dataset": "digits", "method": "lpg_fixed", "seed": 0, "method_params": {"a": a},
                          "data": {"imbalance": 10.0, "meta_per_class": 0},
                          "train": {"epochs": 2, "batch_size": 64, "progress": "none", "threads": 1}})
    train(cfg, tmp_path)
    rec = json.loads((tmp_path / "result.json").read_text())
    counts = rec["data"]["per_class"]["train"]
    median = sorted(counts)[4:6]
    tail = [c for c, n in enumerate(counts) if n < sum(median) / 2]
    assert rec["lpg"]["picked"] == tail and 0 < len(tail) < 10
    assert rec["lpg"]["trajectory"] == [[a if c in tail else 0.0 for c in range(10)]] * 2
    # g~ = g + a g in float32: one rounding of at most 2^-24 relative per entry, so the norm ratio is
    # 1 + a to within a few 1e-7.
    for epoch in rec["lpg"]["amplification"]:
        for c, ratio in enumerate(epoch):
            assert math.isclose(ratio, 1 + a if c in tail else 1.0, rel_tol=1e-6)


def test_lpg_fixed_on_digits_asym_dampens_the_flipped_source_classes(tmp_path) -> None:
    cfg = resolve_config({"dataset": "digits", "method": "lpg_fixed", "seed": 0,
                          "method_params": {"classes": "noisy", "a": -0.5},
                          "data": {"noise": "asym", "noise_rate": 0.4, "meta_per_class": 0,
                                   "noise_map": {2: 7, 3: 8, 5: 6, 6: 5, 7: 1}},
                          "train": {"epochs": 1, "batch_size": 64, "progress": "none", "threads": 1}})
    rec = train(cfg)
    assert rec["lpg"]["picked"] == [2, 3, 5, 6, 7]
    assert rec["lpg"]["amplification"][0] == pytest.approx([1, 1, 0.5, 0.5, 1, 0.5, 0.5, 0.5, 1, 1], rel=1e-6)


@pytest.mark.parametrize("method", ["lpg", "lpg_scale", "lpg_shift", "lpg_clip", "lpg_rule", "lpg+gce"])
def test_every_lpg_form_records_one_amplification_per_epoch_and_class(method: str) -> None:
    cfg = resolve_config({"dataset": "mnist1d", "method": method, "seed": 0,
                          "data": {"num_samples": 500, "meta_per_class": 5},
                          "train": {"epochs": 2, "batch_size": 64, "progress": "none", "threads": 1}})
    rec = train(cfg)["lpg"]
    assert len(rec["amplification"]) == 2 and all(len(row) == 10 for row in rec["amplification"])
    ratios = [r for row in rec["amplification"] for r in row]
    assert all(r is not None and r > 0 for r in ratios)
    if method == "lpg_clip":  # clipping never lengthens a gradient
        assert max(ratios) <= 1 + 1e-6


def test_a_checkpoint_mid_epoch_keeps_the_running_sums() -> None:
    from lpg_meta.methods import build_method

    ctx = TrainContext(num_classes=3, class_counts=[50, 20, 5], epochs=1, steps_per_epoch=2)
    g, y = torch.randn(6, 3, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 1, 2, 2, 1, 0])
    first = build_method("lpg_fixed", {}, ctx)
    first.amplification.add(g, 2 * g, y)
    second = build_method("lpg_fixed", {}, ctx)
    second.load_state_dict(first.state_dict())
    for method in (first, second):
        method.amplification.add(g, g, y)
        method.amplification.end_epoch()
    assert second.amplification.per_epoch == first.amplification.per_epoch == [[pytest.approx(1.5)] * 3]
