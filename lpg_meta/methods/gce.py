"""Generalized cross-entropy (Zhang and Sabuncu 2018; docs/method.md §4)."""

from __future__ import annotations

from typing import Any

import torch

from lpg_meta.errors import UserError
from lpg_meta.methods.base import Method, TrainContext
from lpg_meta.registry import METHODS


@METHODS.register("gce")
class GeneralizedCE(Method):
    """``L_q = (1 - p_y ** q) / q``: CE as q -> 0, MAE (up to a factor) at q = 1."""

    display_name = "GCE"
    defaults = {"q": 0.7}
    search_space = {"q": ("float", 0.1, 0.9)}

    def __init__(self, params: dict[str, Any], ctx: TrainContext) -> None:
        super().__init__(params, ctx)
        if not 0.0 < params["q"] <= 1.0:
            raise UserError(f"method.q must be in (0, 1] for 'gce', got {params['q']!r}.")

    def per_sample_loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        q = self.params["q"]
        log_p = torch.log_softmax(logits, dim=1).gather(1, y.unsqueeze(1)).squeeze(1)
        # p ** q as exp(q log p): stable where p underflows, and its gradient stays finite.
        return (1.0 - torch.exp(q * log_p)) / q
