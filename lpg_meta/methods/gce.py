"""Generalized cross-entropy (Zhang and Sabuncu 2018; docs/method.md §4)."""

from __future__ import annotations

from typing import Any

import torch

from lpg_meta.methods.base import Method, TrainContext
from lpg_meta.registry import METHODS


@METHODS.register("gce")
class GeneralizedCE(Method):
    """``L_q = (1 - p_y ** q) / q``: CE as q -> 0, MAE (up to a factor) at q = 1."""


    def __init__(self, params: dict[str, Any], ctx: TrainContext) -> None:
        super().__init__(params, ctx)

    def per_sample_loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        q = self.params["q"]
        log_p = torch.log_softmax(logits, dim=1).gather(1, y.unsqueeze(1)).squeeze(1)
        # p ** q as exp(q log p): stable where p underflows, and its gradient stays finite.
        return (1.0 - torch.exp(q * log_p)) / q
