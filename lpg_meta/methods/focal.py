"""Focal loss (Lin et al. 2017; docs/method.md §4), as in kaidic/LDAM-DRW."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from lpg_meta.methods.base import Method, TrainContext
from lpg_meta.registry import METHODS

# Floor on 1 - p_y: where p_y rounds to 1, d(1 - p)^gamma / dp is infinite for gamma < 1 and
# autograd would multiply it by CE = 0 (NaN). Below the floor the factor is treated as constant.
_MIN_ONE_MINUS_P = 1e-12


def focal_per_sample(logits: torch.Tensor, y: torch.Tensor, gamma: float) -> torch.Tensor:
    """``(1 - p_y) ** gamma * CE`` per sample ``[B]``, with ``p_y = exp(-CE)``."""
    ce = F.cross_entropy(logits, y, reduction="none")
    # -expm1(-ce) is 1 - p_y without the cancellation of 1 - exp(-ce) for easy samples.
    one_minus_p = (-torch.expm1(-ce)).clamp_min(_MIN_ONE_MINUS_P)
    return one_minus_p**gamma * ce


@METHODS.register("focal")
class Focal(Method):
    """Focal loss: cross-entropy down-weighted on well-classified samples."""


    def __init__(self, params: dict[str, Any], ctx: TrainContext) -> None:
        super().__init__(params, ctx)

    def per_sample_loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return focal_per_sample(logits, y, self.params["gamma"])
