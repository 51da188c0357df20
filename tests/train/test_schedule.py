"""Learning-rate schedules: linear warm-up, cosine and multistep, hand-computed."""

import math

import pytest
import torch

from lpg_meta.config import OPTIM_DEFAULTS
from lpg_meta.train.schedule import build_optimizer, build_scheduler, lr_factor


def optim(**kw):
    return {**OPTIM_DEFAULTS, **kw}


def test_warmup_is_linear_then_cosine_reaches_zero():
    cfg = optim(schedule="cosine", warmup_epochs=1)
    # 10 steps per epoch, 3 epochs: 10 warm-up steps then 20 cosine steps.
    assert lr_factor(0, 10, 3, cfg) == pytest.approx(0.1)
    assert lr_factor(9, 10, 3, cfg) == pytest.approx(1.0)
    assert lr_factor(10, 10, 3, cfg) == pytest.approx(1.0)
    assert lr_factor(20, 10, 3, cfg) == pytest.approx(0.5)  # half-way through the cosine
    assert lr_factor(25, 10, 3, cfg) == pytest.approx(0.5 * (1 + math.cos(math.pi * 15 / 20)))


def test_multistep_decays_at_each_milestone():
    cfg = optim(schedule="multistep", milestones=[2, 4], lr_decay=0.1)
    assert lr_factor(19, 10, 6, cfg) == pytest.approx(1.0)
    assert lr_factor(20, 10, 6, cfg) == pytest.approx(0.1)
    assert lr_factor(40, 10, 6, cfg) == pytest.approx(0.01)


def test_scheduler_drives_sgd_with_nesterov_and_weight_decay():
    model = torch.nn.Linear(2, 2)
    cfg = optim(lr=0.2, nesterov=True, weight_decay=1e-3, schedule="constant", warmup_epochs=1)
    opt = build_optimizer(model, cfg)
    group = opt.param_groups[0]
    assert group["nesterov"] and group["momentum"] == 0.9 and group["weight_decay"] == 1e-3
    sched = build_scheduler(opt, steps_per_epoch=4, epochs=2, optim=cfg)
    assert group["lr"] == pytest.approx(0.05)  # first warm-up step: 0.2 * 1/4
    for _ in range(4):
        opt.step()
        sched.step()
    assert group["lr"] == pytest.approx(0.2)
