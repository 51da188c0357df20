"""Gradient-norm clipping as a parameter-level gradient perturbation (docs/method.md §2)."""

from __future__ import annotations

from typing import Any

import torch

from lpg_meta.methods.base import Method, StepInfo, TrainContext
from lpg_meta.perturb.param import clip_grad_norm
from lpg_meta.registry import METHODS


@METHODS.register("clip")
class GradClip(Method):
    """Cross-entropy (or any loss, via ``loss_fn``) with G <- G * min(1, c / (||G|| + 1e-6))."""


    def __init__(self, params: dict[str, Any], ctx: TrainContext) -> None:
        super().__init__(params, ctx)

    def before_update(self, model: torch.nn.Module, step: StepInfo) -> None:
        clip_grad_norm(model.parameters(), self.params["max_norm"])
