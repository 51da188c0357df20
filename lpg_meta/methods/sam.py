"""Sharpness-aware minimisation (Foret et al. 2021; docs/method.md §2)."""

from __future__ import annotations

from typing import Any

import torch

from lpg_meta.methods.base import LossFn, Method, StepInfo, TrainContext
from lpg_meta.perturb.param import bn_running_stats_frozen, sam_perturb, sam_restore
from lpg_meta.registry import METHODS


@METHODS.register("sam")
class SAM(Method):
    """Two-pass step: the update uses grad L(theta + rho * G / ||G||), taken at theta.

    Pass 1 computes G at theta (and updates BatchNorm running statistics); the parameters move
    to the ascent point; pass 2 computes the gradient there with BatchNorm statistics frozen;
    the parameters are restored and the wrapped optimizer steps (as davda54/sam with any base
    optimizer). Both passes use ``loss_fn`` when one is given (LPG plugs in this way).
    """


    def __init__(self, params: dict[str, Any], ctx: TrainContext) -> None:
        super().__init__(params, ctx)

    def train_step(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        x: torch.Tensor,
        y: torch.Tensor,
        step: StepInfo,
        loss_fn: LossFn | None = None,
    ) -> dict[str, float]:
        loss_fn = loss_fn or self.loss
        params = list(model.parameters())

        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()

        e_ws = sam_perturb(params, self.params["rho"])
        optimizer.zero_grad(set_to_none=True)
        with bn_running_stats_frozen(model):
            loss_fn(model(x), y).backward()
        sam_restore(params, e_ws)

        self.before_update(model, step)
        optimizer.step()
        return {"loss": loss.item()}
