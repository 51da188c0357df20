"""LDAM and LDAM-DRW (Cao et al. 2019, kaidic/LDAM-DRW; docs/method.md §4)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from lpg_meta.methods.base import LossFn, Method, StepInfo, TrainContext
from lpg_meta.methods.cb import class_balanced_weights, safe_counts, weighted_per_sample
from lpg_meta.registry import METHODS


def ldam_margins(counts: Sequence[int], max_margin: float) -> torch.Tensor:
    """``m_c`` proportional to ``n_c ** -1/4``; the largest (rarest class) is ``max_margin``."""
    m = safe_counts(counts) ** -0.25
    return m * (max_margin / m.max())


def ldam_per_sample(
    logits: torch.Tensor, y: torch.Tensor, margins: torch.Tensor, s: float
) -> torch.Tensor:
    """``CE(s * (u - m_y e_y), y)`` per sample: margin off the true logit only, then s scales all."""
    shift = F.one_hot(y, logits.shape[1]).to(logits) * margins.to(logits)[y].unsqueeze(1)
    return F.cross_entropy(s * (logits - shift), y, reduction="none")


@METHODS.register("ldam")
class LDAM(Method):
    """Label-distribution-aware margin loss: larger margins for rarer classes."""


    def __init__(self, params: dict[str, Any], ctx: TrainContext) -> None:
        super().__init__(params, ctx)
        self.margins = ldam_margins(ctx.class_counts, params["max_margin"]).to(ctx.device)

    def per_sample_loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return ldam_per_sample(logits, y, self.margins, self.params["s"])


@METHODS.register("ldam_drw")
class LDAMDRW(LDAM):
    """LDAM with deferred re-weighting: class-balanced weights from epoch ``drw_start * epochs`` on.

    As in kaidic/LDAM-DRW (``epoch // 160`` of 200): the weights are on in 0-based epoch e iff
    ``e >= drw_start * epochs``; before that every weight is 1 (the plain mean). With the
    weights on, the batch loss is their weighted mean (``F.cross_entropy(weight=w)``).
    """


    def __init__(self, params: dict[str, Any], ctx: TrainContext) -> None:
        super().__init__(params, ctx)
        self.weights = class_balanced_weights(ctx.class_counts, params["beta"]).to(ctx.device)
        self.epoch = 0

    @property
    def drw_on(self) -> bool:
        """Whether the class-balanced weights apply in the current epoch."""
        # The small tolerance keeps e.g. 0.8 * 10 = 8.000000000000002 from deferring by an epoch.
        return self.epoch >= self.params["drw_start"] * self.ctx.epochs - 1e-9

    def per_sample_loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        losses = super().per_sample_loss(logits, y)
        return weighted_per_sample(losses, y, self.weights) if self.drw_on else losses

    # The switch is state of the method, so that loss() stays a function of (logits, y) and an
    # LPG wrapper calling base.loss sees the same switch.
    def train_step(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        x: torch.Tensor,
        y: torch.Tensor,
        step: StepInfo,
        loss_fn: LossFn | None = None,
    ) -> dict[str, float]:
        self.epoch = step.epoch
        return super().train_step(model, optimizer, x, y, step, loss_fn)

    def on_epoch_end(self, epoch: int) -> None:
        # Already right for anything run before the next train_step (e.g. an LPG look-ahead).
        self.epoch = epoch + 1
