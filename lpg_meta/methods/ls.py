"""Label smoothing (Szegedy et al. 2016; docs/method.md §4)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from lpg_meta.errors import UserError
from lpg_meta.methods.base import Method, TrainContext
from lpg_meta.registry import METHODS


@METHODS.register("ls")
class LabelSmoothing(Method):
    """CE against ``(1 - alpha) e_y + alpha / C``: the smoothing mass is spread over all C classes.

    This is ``F.cross_entropy(label_smoothing=alpha)``; the true class also gets ``alpha / C``.
    """

    display_name = "LS"
    defaults = {"alpha": 0.1}
    search_space = {"alpha": ("float", 0.05, 0.3)}

    def __init__(self, params: dict[str, Any], ctx: TrainContext) -> None:
        super().__init__(params, ctx)
        if not 0.0 <= params["alpha"] <= 1.0:
            raise UserError(f"method.alpha must be in [0, 1] for 'ls', got {params['alpha']!r}.")

    def per_sample_loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, y, reduction="none", label_smoothing=self.params["alpha"])
