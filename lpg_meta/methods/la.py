"""Logit adjustment (Menon et al. 2021; docs/method.md §4): ``la`` (loss) and ``la_posthoc``."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from lpg_meta.methods.base import Method, TrainContext
from lpg_meta.methods.cb import safe_counts
from lpg_meta.registry import METHODS


def log_prior(ctx: TrainContext) -> torch.Tensor:
    """``log pi_c``, ``pi`` the training class prior (an empty class counted as 1); float64, CPU."""
    n = safe_counts(ctx.class_counts)
    return torch.log(n / n.sum())


class _LogitAdjusted(Method):
    """Shared setting ``tau`` and the training class prior."""


    def __init__(self, params: dict[str, Any], ctx: TrainContext) -> None:
        super().__init__(params, ctx)
        self.log_pi = log_prior(ctx).to(ctx.device)


@METHODS.register("la")
class LogitAdjustedLoss(_LogitAdjusted):
    """Train on ``CE(u + tau * log pi, y)``; predict with the plain logits ``u``."""


    def per_sample_loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        # + tau log pi: frequent classes get a head start in training, so the model's own
        # logits must make up the gap for rare ones.
        return F.cross_entropy(
            logits + self.params["tau"] * self.log_pi.to(logits), y, reduction="none"
        )


@METHODS.register("la_posthoc")
class LogitAdjustedPostHoc(_LogitAdjusted):
    """Train with CE; predict with ``argmax(u - tau * log pi)``."""


    def eval_logits(self, logits: torch.Tensor) -> torch.Tensor:
        # - tau log pi: the prior baked into a CE-trained model is removed at prediction time.
        return logits - self.params["tau"] * self.log_pi.to(logits)
