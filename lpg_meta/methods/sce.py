"""Symmetric cross-entropy (Wang et al. 2019; docs/method.md §4)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from lpg_meta.methods.base import Method, TrainContext
from lpg_meta.registry import METHODS

# The paper's A = log 0 clipped (its code clamps the one-hot at 1e-4, i.e. log = -9.2;
# docs/method.md §4 follows the paper's -4).
LOG_ZERO = -4.0


@METHODS.register("sce")
class SymmetricCE(Method):
    """``alpha * CE + beta * RCE`` with ``RCE = -sum_k p_k log q_k`` and ``log 0 := A = -4``.

    With a one-hot q, ``log q_y = 0`` and ``log q_k = A`` elsewhere, so ``RCE = -A * (1 - p_y)``.
    Defaults are the paper's CIFAR-10 values (CIFAR-100: alpha 6.0, beta 0.1).
    """


    def __init__(self, params: dict[str, Any], ctx: TrainContext) -> None:
        super().__init__(params, ctx)

    def per_sample_loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        ce = F.cross_entropy(logits, y, reduction="none")
        p_true = torch.softmax(logits, dim=1).gather(1, y.unsqueeze(1)).squeeze(1)
        rce = -LOG_ZERO * (1.0 - p_true)
        return self.params["alpha"] * ce + self.params["beta"] * rce
