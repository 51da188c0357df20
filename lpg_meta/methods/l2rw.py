"""L2RW (Ren et al. 2018), the first of the meta-learned reweighting baselines.

``l2rw``, ``mwnet`` and ``gdw`` (docs/method.md §4) learn from the clean meta split through the
one-step look-ahead of docs/method.md §3.2 (``MetaLearnedMethod.look_ahead``: the real optimizer's own
step, with the model's buffers, its optimizer state and the RNG left as they were). They are of
kind "meta", so LPG refuses to plug into them. During ``warmup_epochs`` they train with plain
CE, because nothing has been learned yet that could weight the loss.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from lpg_meta.methods._meta_stream import (
    Batch,
    MetaLearnedMethod,
)
from lpg_meta.methods._weight_log import WeightLog
from lpg_meta.methods.base import LossFn, StepInfo, TrainContext
from lpg_meta.registry import METHODS


def mean_ce(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Plain cross-entropy (warm-up steps)."""
    return F.cross_entropy(logits, y)


def normalized_weights(grad: torch.Tensor) -> torch.Tensor:
    """L2RW's example weights ``max(-grad, 0) / sum``; all zeros stay zeros (no division by 0)."""
    w = (-grad).clamp(min=0)
    total = w.sum()
    # torch.where instead of an ``if``: no host synchronisation on a GPU.
    return w / torch.where(total > 0, total, torch.ones_like(total))


@METHODS.register("l2rw")
class L2RW(MetaLearnedMethod):
    """Learning to Reweight Examples: per-batch weights from one look-ahead meta-gradient.

    Each meta step perturbs the per-sample CE losses by weights ``eps`` (at 0), takes the
    look-ahead gradient of the meta loss with respect to ``eps``, and steps on
    ``sum_i w_i l_i`` with ``w = max(-grad, 0)`` normalised to sum 1. A batch whose weights are
    all 0 gives a zero loss; the optimizer still steps, so momentum and weight decay act, as in
    the reference. Steps between meta steps (``meta_interval`` > 1) use plain CE.
    """


    def __init__(self, params: dict[str, Any], ctx: TrainContext) -> None:
        super().__init__(params, ctx)
        self._epoch_zero: list[float] = []
        self._epoch_ess: list[float] = []
        self.effective_fraction: list[float | None] = []
        self._weights: torch.Tensor | None = None  # this step's, from meta_update
        self.zero_fraction: list[float | None] = []
        self.weight_log = WeightLog()  # meta steps' weights only (the others are plain CE)

    def example_weights(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        batch: Batch,
        meta_batch: Batch,
    ) -> tuple[torch.Tensor, torch.Tensor, float]:
        """Return the weights, the meta-gradient ``d meta_loss / d eps`` at 0, and the meta loss."""
        y = batch[1]
        ref = next(model.parameters())
        eps = torch.zeros(len(y), dtype=ref.dtype, device=y.device, requires_grad=True)

        def virtual_loss(logits: torch.Tensor, yy: torch.Tensor) -> torch.Tensor:
            return (eps * F.cross_entropy(logits, yy, reduction="none")).sum()

        (grad,), value = self.look_ahead(model, optimizer, batch, meta_batch, virtual_loss, [eps])
        return normalized_weights(grad.detach()), grad.detach(), value

    def meta_update(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        batch: Batch,
        meta_batch: Batch,
        loss_fn: LossFn | None,
    ) -> float:
        self._weights, _, value = self.example_weights(model, optimizer, batch, meta_batch)
        w = self._weights.double()
        self._epoch_zero.append((w == 0).double().mean().item())
        # Kish's effective sample size over the batch size, (sum w)^2 / (B sum w^2): 1 for equal
        # weights, 1/B when one sample holds all the weight (0 for an all-zero batch).
        sq = (w * w).sum().item()
        self._epoch_ess.append(w.sum().item() ** 2 / (len(w) * sq) if sq > 0 else 0.0)
        return value

    def real_loss(self, step: StepInfo, loss_fn: LossFn | None) -> LossFn:
        w, self._weights = self._weights, None
        if w is None:  # not a meta step: plain CE
            return mean_ce

        self.weight_log.add(w, self.batch_flipped)

        def weighted(logits: torch.Tensor, yy: torch.Tensor) -> torch.Tensor:
            return (w * F.cross_entropy(logits, yy, reduction="none")).sum()

        return weighted

    def on_epoch_end(self, epoch: int) -> None:
        super().on_epoch_end(epoch)
        zeros = self._epoch_zero
        self.zero_fraction.append(sum(zeros) / len(zeros) if zeros else None)
        self._epoch_zero = []
        ess = self._epoch_ess
        self.effective_fraction.append(sum(ess) / len(ess) if ess else None)
        self._epoch_ess = []
        self.weight_log.end_epoch()

    def record(self) -> dict[str, Any]:
        rec = {"zero_fraction": self.zero_fraction, "effective_fraction": self.effective_fraction,
               **self.weight_log.record()}
        return {"l2rw": {**self.base_record(), **rec}}
