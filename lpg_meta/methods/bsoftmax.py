"""Balanced softmax (Ren et al. 2020; docs/method.md §4)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from lpg_meta.methods.base import Method, TrainContext
from lpg_meta.methods.cb import safe_counts
from lpg_meta.registry import METHODS


@METHODS.register("bsoftmax")
class BalancedSoftmax(Method):
    """Train on ``CE(u + log n_c, y)``; predict with the plain logits ``u``.

    ``log n_c`` and ``log pi_c`` differ by ``log N``, the same for every class, so this loss
    equals ``la`` with ``tau = 1`` (softmax is shift-invariant); counts are used as the paper
    writes them.
    """


    def __init__(self, params: dict[str, Any], ctx: TrainContext) -> None:
        super().__init__(params, ctx)
        self.log_counts = torch.log(safe_counts(ctx.class_counts)).to(ctx.device)

    def per_sample_loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits + self.log_counts.to(logits), y, reduction="none")
