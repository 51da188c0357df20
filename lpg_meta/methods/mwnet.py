"""Meta-Weight-Net (Shu et al. 2019; xjtushujun/meta-weight-net), docs/method.md §4.

A small net V maps each sample's CE loss to a weight in (0, 1). V is learned by the one-step
look-ahead of docs/method.md §3.2 on the virtual loss ``mean_i V(l_i) l_i``, with Adam (1e-3, weight
decay 1e-4) as in the reference's ``MW-Net.py``. With ``normalize: true`` both the virtual and
the real loss use ``V(l_i) / sum_j V(l_j)`` over the batch instead, summed, as the reference's
``train_WRN-28-10_Meta_PGC.py`` (a batch sum of 0 leaves the weights as they are, as there).
Unnormalised, V's level acts as a learning-rate multiplier, and a one-step look-ahead always
prefers a larger step: on noisy MNIST-1D V saturates near 1 and the method equals CE.
V reads the loss *detached* (the reference feeds ``cost_v.data``), so the weighted loss has
logit gradient ``V(l_i) dl_i/du`` (or ``w_i dl_i/du``) with no dV/dl term.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lpg_meta.lpg import BilevelStep
from lpg_meta.methods._meta_stream import (
    Batch,
    MetaLearnedMethod,
)
from lpg_meta.methods._weight_log import WeightLog
from lpg_meta.methods.base import LossFn, StepInfo, TrainContext
from lpg_meta.methods.l2rw import mean_ce
from lpg_meta.registry import METHODS

# The weight-vs-loss curve stored in result.json (the reference plots V on [0, 10]).
LOSS_GRID = (0.0, 10.0, 101)


class WeightNet(nn.Module):
    """MW-Net's weighting function: loss -> Linear(1, hidden) -> ReLU -> Linear(hidden, 1) -> sigmoid.

    torch's default ``nn.Linear`` initialisation, as the reference's ``MetaLinear`` wraps it.
    """

    def __init__(self, hidden: int = 100) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(1, hidden), nn.ReLU(), nn.Linear(hidden, 1), nn.Sigmoid()
        )

    def forward(self, losses: torch.Tensor) -> torch.Tensor:
        """Weights ``[B]`` of the per-sample losses ``[B]`` (read detached)."""
        return self.net(losses.detach().unsqueeze(1)).squeeze(1)


@METHODS.register("mwnet")
class MWNet(MetaLearnedMethod):
    """MW-Net: per-sample weights ``V(l_i)`` from a meta-learned weight net.

    Every ``meta_interval`` steps V takes one Adam step on the look-ahead meta-gradient; every
    step then trains on ``mean_i V(l_i) l_i`` with the current V, its weights detached.
    """


    def __init__(self, params: dict[str, Any], ctx: TrainContext) -> None:
        super().__init__(params, ctx)
        p = params
        self.weight_log = WeightLog()
        # Its random initialisation must not shift the run's RNG stream (dropout, noise): the
        # trainer seeds once, and a CE run and this one then see the same random numbers.
        with torch.random.fork_rng(devices=[]):
            self.vnet = WeightNet(p["vnet_hidden"])
        # V's Adam; its backend is unused (the look-ahead is MetaLearnedMethod.look_ahead).
        self.vnet_update = BilevelStep(
            self.vnet, "adam", self.meta_step_lr(p["vnet_lr"]), weight_decay=p["vnet_weight_decay"]
        )

    def setup(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
        super().setup(model, optimizer)
        ref = next(model.parameters())
        # Module.to keeps the Parameter objects, so the Adam built in __init__ stays valid.
        self.vnet.to(device=ref.device, dtype=ref.dtype)

    def combine(self, v: torch.Tensor, losses: torch.Tensor) -> torch.Tensor:
        """The batch loss from V's outputs: ``mean_i v_i l_i``, or normalised, ``sum_i w_i l_i``."""
        if not self.params["normalize"]:
            return (v * losses).mean()
        total = v.sum()
        # The reference divides only if the sum is not 0; torch.where avoids a host sync.
        return (v / torch.where(total != 0, total, torch.ones_like(total)) * losses).sum()

    def weighted_loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The virtual loss, differentiable in V's parameters."""
        losses = F.cross_entropy(logits, y, reduction="none")
        return self.combine(self.vnet(losses), losses)

    def frozen_loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The real step's loss: the current V's weights, detached."""
        losses = F.cross_entropy(logits, y, reduction="none")
        with torch.no_grad():
            v = self.vnet(losses)
        # Normalising by the batch sum does not change a sample's share of the batch's weight.
        self.weight_log.add(v, self.batch_flipped)
        return self.combine(v, losses)

    def meta_grads(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        batch: Batch,
        meta_batch: Batch,
    ) -> tuple[list[torch.Tensor], float]:
        """``d meta_loss / d`` V's parameters for the look-ahead on ``batch``, and the meta loss."""
        return self.look_ahead(
            model, optimizer, batch, meta_batch, self.weighted_loss, list(self.vnet.parameters())
        )

    def meta_update(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        batch: Batch,
        meta_batch: Batch,
        loss_fn: LossFn | None,
    ) -> float:
        grads, value = self.meta_grads(model, optimizer, batch, meta_batch)
        self.vnet_update.apply(grads)
        return value

    def real_loss(self, step: StepInfo, loss_fn: LossFn | None) -> LossFn:
        return mean_ce if self.warming_up(step) else self.frozen_loss

    @torch.no_grad()
    def weight_curve(self) -> dict[str, list[float]]:
        """V on a grid of loss values (how the learned weight depends on the loss)."""
        ref = next(self.vnet.parameters())
        grid = torch.linspace(*LOSS_GRID, dtype=ref.dtype, device=ref.device)
        return {"loss_grid": grid.cpu().tolist(), "weights": self.vnet(grid).cpu().tolist()}

    def on_epoch_end(self, epoch: int) -> None:
        super().on_epoch_end(epoch)
        self.weight_log.end_epoch()

    def record(self) -> dict[str, Any]:
        return {"mwnet": {**self.base_record(), **self.weight_curve(), **self.weight_log.record()}}
