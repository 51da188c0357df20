"""Gradient-norm clipping as a parameter-level gradient perturbation (docs/method.md §2)."""

from __future__ import annotations

from typing import Any

import torch

from lpg_meta.errors import UserError
from lpg_meta.methods.base import Method, StepInfo, TrainContext
from lpg_meta.perturb.param import clip_grad_norm
from lpg_meta.registry import METHODS


@METHODS.register("clip")
class GradClip(Method):
    """Cross-entropy (or any loss, via ``loss_fn``) with G <- G * min(1, c / (||G|| + 1e-6))."""

    display_name = "GradClip"
    kind = "step"
    defaults = {"max_norm": 5.0}
    search_space = {"max_norm": ("log", 0.1, 10.0)}

    def __init__(self, params: dict[str, Any], ctx: TrainContext) -> None:
        super().__init__(params, ctx)
        if not params["max_norm"] > 0:
            raise UserError(f"method.max_norm must be > 0 for 'clip', got {params['max_norm']!r}.")

    def before_update(self, model: torch.nn.Module, step: StepInfo) -> None:
        clip_grad_norm(model.parameters(), self.params["max_norm"])
