"""Label smoothing (Szegedy et al. 2016; docs/method.md §4)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from lpg_meta.methods.base import Method, TrainContext
from lpg_meta.registry import METHODS


@METHODS.register("ls")
class LabelSmoothing(Method):
    """CE against ``(1 - alpha) e_y + alpha / C``: the smoothing mass is spread over all C classes.

    This is ``F.cross_entropy(label_smoothing=alpha)``; the true class also gets ``alpha / C``.
    """


    def __init__(self, params: dict[str, Any], ctx: TrainContext) -> None:
        super().__init__(params, ctx)

    def per_sample_loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, y, reduction="none", label_smoothing=self.params["alpha"])
