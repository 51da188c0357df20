"""Optimizer and per-step learning-rate schedules (linear warm-up, then cosine or multistep)."""

from __future__ import annotations

import math
from typing import Any

import torch


def build_optimizer(model: torch.nn.Module, optim: dict[str, Any]) -> torch.optim.SGD:
    """SGD with momentum, optional Nesterov, and weight decay."""
    return torch.optim.SGD(
        model.parameters(),
        lr=optim["lr"],
        momentum=optim["momentum"],
        nesterov=optim["nesterov"],
        weight_decay=optim["weight_decay"],
    )


def lr_factor(step: int, steps_per_epoch: int, epochs: int, optim: dict[str, Any]) -> float:
    """Multiplier of the base rate at global ``step`` (0-based).

    Warm-up ramps linearly over ``warmup_epochs`` epochs; ``cosine`` then decays to 0 at the
    end of training and ``multistep`` multiplies by ``lr_decay`` at each milestone epoch.
    """
    warmup_steps = optim["warmup_epochs"] * steps_per_epoch
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if optim["schedule"] == "cosine":
        total = max(1, epochs * steps_per_epoch - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * (step - warmup_steps) / total))
    if optim["schedule"] == "multistep":
        epoch = step // steps_per_epoch
        return optim["lr_decay"] ** sum(epoch >= m for m in optim["milestones"])
    return 1.0


def build_scheduler(
    optimizer: torch.optim.Optimizer, steps_per_epoch: int, epochs: int, optim: dict[str, Any]
) -> torch.optim.lr_scheduler.LambdaLR:
    """A scheduler stepped once per training step."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, steps_per_epoch, epochs, optim)
    )
