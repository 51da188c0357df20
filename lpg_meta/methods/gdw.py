"""Generalized Data Weighting (Chen et al. 2021; GGchen1997/GDW-NIPS2021), docs/method.md §4.

Our reading of the reference (``main.py``, ``--mode gdw``): each sample i gets class-level
weights ``omega_i`` in R^C, one per logit, applied elementwise to its CE logit gradient
``g_i = p_i - e_{y_i}`` (docs/method.md §2: omega_i * g_i). Per batch:

1. first stage: ``omega_ij = V(l_i)`` for every j, V the MW-Net weight net (loss read detached);
2. zero-sum constraint: the true class's weight is set so that ``sum_j omega_ij g_ij = 0``,
   i.e. ``omega_iy = sum_{j != y} omega_ij p_ij / (1 - p_iy)``, p detached and clamped at
   0.999 as in the reference. Equal weights give back ``omega_iy = V(l_i)``: plain MW-Net;
3. one look-ahead (docs/method.md §3.2) gives ``grad = d meta_loss / d omega`` (all B x C entries,
   taken after the constraint, as the reference's ``v_lambda.grad``) and V's meta-gradient;
   V takes an Adam step and ``omega <- clamp(omega - clip(outer_lr * grad / sum|grad|,
   -outer_clip, outer_clip), 1e-6, 1e6)``;
4. the real step re-imposes the constraint on the updated omega and trains on omega_i * g_i.

omega is not kept across batches; only V is. Steps between meta steps use step 1-2 with the
current V. ``record()`` stores, per epoch, the batch-mean omega of each label class (rows)
over the logits (columns): a C x C trajectory; on noisy rows, the weight log (``_weight_log``)
of each sample's true-label weight ``omega_iy``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from lpg_meta.methods._meta_stream import Batch
from lpg_meta.methods.base import LossFn, StepInfo, TrainContext
from lpg_meta.methods.l2rw import mean_ce
from lpg_meta.methods.mwnet import MWNet
from lpg_meta.perturb import perturb_logit_grad
from lpg_meta.registry import METHODS

P_MAX = 0.999  # the reference's clamp of p, so that 1 - p_y >= 1e-3 in the constraint
OMEGA_RANGE = (1e-6, 1e6)  # the reference's L_EPS, H_EPS


def zero_sum(omega: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Replace each true-class weight so that ``sum_j omega_ij (p_ij - [j = y_i]) = 0``."""
    p = torch.softmax(logits.detach(), dim=1).clamp(max=P_MAX)
    col = y.unsqueeze(1)
    p_y, w_y = p.gather(1, col), omega.gather(1, col)
    target = ((omega * p).sum(1, keepdim=True) - w_y * p_y) / (1 - p_y)
    return omega.scatter(1, col, target)


def weighted_ce(logits: torch.Tensor, y: torch.Tensor, omega: torch.Tensor) -> torch.Tensor:
    """Mean CE whose per-sample logit gradients ``g_i`` become ``omega_i * g_i``."""
    return F.cross_entropy(perturb_logit_grad(logits, lambda g: omega * g), y)


def gdw_update(
    omega: torch.Tensor, grad: torch.Tensor, outer_lr: float, clip: float
) -> torch.Tensor:
    """``clamp(omega - clip(outer_lr * grad / sum|grad|, -clip, clip), 1e-6, 1e6)``."""
    total = grad.abs().sum()
    # A zero meta-gradient leaves omega as it is (instead of 0/0).
    scaled = outer_lr * grad / torch.where(total > 0, total, torch.ones_like(total))
    return (omega - scaled.clamp(-clip, clip)).clamp(*OMEGA_RANGE)


@METHODS.register("gdw")
class GDW(MWNet):
    """GDW: MW-Net's instance weights refined, per batch, into class-level weights."""


    def __init__(self, params: dict[str, Any], ctx: TrainContext) -> None:
        super().__init__(params, ctx)
        c = ctx.num_classes
        self._sums = torch.zeros(c, c, dtype=torch.float64)
        self._counts = torch.zeros(c, dtype=torch.float64)
        self.trajectory: list[list[list[float | None]]] = []
        self._updated: torch.Tensor | None = None  # set by meta_update for the real step

    def first_stage(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``V(l_i)`` on every class, then the zero-sum constraint (differentiable in V)."""
        v = self.vnet(F.cross_entropy(logits, y, reduction="none"))
        return zero_sum(v.unsqueeze(1).expand_as(logits), logits, y)

    def omega_meta_grads(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        batch: Batch,
        meta_batch: Batch,
    ) -> tuple[list[torch.Tensor], float, torch.Tensor]:
        """Meta-gradients ``[d/d omega (B x C), *d/d V's parameters]``, meta loss, and omega.

        omega (returned detached) is the first-stage weight at the current parameters; a zero
        offset is added to it, so the gradient with respect to the offset is the one with respect
        to omega's entries, each taken as free (the reference's ``v_lambda.grad``).
        """
        ref = next(model.parameters())
        y = batch[1]
        offset = torch.zeros(len(y), self.ctx.num_classes, dtype=ref.dtype, device=y.device)
        offset.requires_grad_()
        seen: list[torch.Tensor] = []

        def virtual_loss(logits: torch.Tensor, yy: torch.Tensor) -> torch.Tensor:
            omega = self.first_stage(logits, yy)
            # The first call sees the logits at the current parameters: keep omega from there
            # rather than run the real model once more (which would move BatchNorm statistics).
            seen.append(omega.detach())
            return weighted_ce(logits, yy, omega + offset)

        params = [offset, *self.vnet.parameters()]
        grads, value = self.look_ahead(model, optimizer, batch, meta_batch, virtual_loss, params)
        return grads, value, seen[0]

    def meta_update(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        batch: Batch,
        meta_batch: Batch,
        loss_fn: LossFn | None,
    ) -> float:
        (grad, *vnet_grads), value, omega = self.omega_meta_grads(model, optimizer, batch, meta_batch)
        self.vnet_update.apply(vnet_grads)
        self._updated = gdw_update(
            omega, grad, self.params["outer_lr"], self.params["outer_clip"]
        )
        return value

    def real_loss(self, step: StepInfo, loss_fn: LossFn | None) -> LossFn:
        if self.warming_up(step):
            return mean_ce
        updated, self._updated = self._updated, None  # omega of this step's meta step, if any

        def loss(logits: torch.Tensor, yy: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                base = self.first_stage(logits, yy) if updated is None else updated
                omega = zero_sum(base, logits, yy)
                self._accumulate(omega, yy)
                # A sample's weight on its own label: what scales the pull towards that label.
                self.weight_log.add(omega.gather(1, yy.unsqueeze(1)).squeeze(1), self.batch_flipped)
            return weighted_ce(logits, yy, omega)

        return loss

    def _accumulate(self, omega: torch.Tensor, y: torch.Tensor) -> None:
        """Add the batch's omega rows to the per-label-class sums of the epoch."""
        if self._sums.device != omega.device:
            self._sums, self._counts = self._sums.to(omega.device), self._counts.to(omega.device)
        self._sums.index_add_(0, y, omega.to(self._sums.dtype))
        self._counts += torch.bincount(y, minlength=len(self._counts)).to(self._counts.dtype)

    def on_epoch_end(self, epoch: int) -> None:
        super().on_epoch_end(epoch)
        sums, counts = self._sums.cpu(), self._counts.cpu()
        # A class without samples this epoch (or a warm-up epoch) gets a row of None (JSON null).
        self.trajectory.append(
            [
                (s / n).tolist() if n > 0 else [None] * len(s)
                for s, n in zip(sums, counts, strict=True)
            ]
        )
        self._sums.zero_()
        self._counts.zero_()

    def record(self) -> dict[str, Any]:
        rec: dict[str, Any] = {"quantity": "mean omega, label class x logit", "trajectory": self.trajectory}
        rec = {**rec, **self.weight_curve(), **self.weight_log.record()}
        return {"gdw": {**self.base_record(), **rec}}
