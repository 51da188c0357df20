"""Hand-set class perturbations, no meta-learning: the intervention test of the amplify/dampen conjecture.

The LPG paper conjectures that amplifying a class's gradient acts as positive augmentation and
dampening it as negative augmentation. ``lpg_fixed`` sets the perturbation by hand, picked from
the data when the run starts, so the question can be asked causally:

- ``classes: tail``: the classes whose training count is below the median count (long-tail rows);
- ``classes: noisy``: the classes whose realised flip rate (the share of the class's training
  samples with a flipped label, ``noise.per_class_rate``: oracle knowledge no other method uses)
  exceeds the mean over classes by more than ``noisy_margin``. The default 0.05 is above the
  sampling spread of a uniform rate on the suite's rows (0.4 over ~100-800 samples a class: a
  standard deviation of 0.02-0.05), so sym and pair rows pick no class; digits_asym picks its
  flipped source classes 2, 3, 5, 6, 7.

On a picked class ``g~ = (1 + a) g``, elsewhere ``g~ = g``: the scale form (LPG's matrix form
with constant rows, which is what a class-level change of the gradient's norm is), not
normalised, so only the picked classes change. ``a = 0.5`` amplifies (1.5x), ``a = -0.5``
dampens (0.5x): the bound ``eps = 0.5`` of the learned forms. A plug-in like ``lpg``:
``lpg_fixed+gce`` perturbs GCE's logit gradient.
"""

from __future__ import annotations

import statistics
import sys
from typing import Any

import torch

from lpg_meta.methods.base import LossFn, Method, StepInfo, TrainContext
from lpg_meta.methods.lpg import _PlugIn
from lpg_meta.registry import METHODS

CLASS_PICKS = ("tail", "noisy")


def pick_classes(which: str, ctx: TrainContext, noisy_margin: float) -> list[int]:
    """The classes ``which`` (``tail`` or ``noisy``) names on this run's training set."""
    if which == "tail":
        median = statistics.median(ctx.class_counts)
        return [c for c, n in enumerate(ctx.class_counts) if n < median]
    rates = [r for r in (ctx.class_noise_rates or []) if r is not None]
    if not rates:
        return []
    threshold = sum(rates) / len(rates) + noisy_margin
    return [c for c, r in enumerate(ctx.class_noise_rates or []) if r is not None and r > threshold]


@METHODS.register("lpg_fixed")
class LPGFixed(_PlugIn):
    """Hand-set ``g~ = (1 + a) g`` on the picked classes (``tail`` or ``noisy``), ``g`` elsewhere."""


    def __init__(
        self, params: dict[str, Any], ctx: TrainContext, base: Method | None = None
    ) -> None:
        super().__init__(params, ctx, base)
        self.picked = pick_classes(params["classes"], ctx, params["noisy_margin"])
        if not self.picked:
            print(f"lpg-meta: lpg_fixed picks no {params['classes']} class on this data set, so it trains as "
                  "its base method.", file=sys.stderr)
        a = torch.zeros(ctx.num_classes)
        a[self.picked] = params["a"]
        self.a = a

    def setup(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
        super().setup(model, optimizer)
        self.a = self.a.to(next(model.parameters()).device)

    def train_step(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        x: torch.Tensor,
        y: torch.Tensor,
        step: StepInfo,
        loss_fn: LossFn | None = None,
    ) -> dict[str, float]:
        return self.scale_step(model, optimizer, x, y, step, loss_fn or self.base.loss, self.a)

    def on_epoch_end(self, epoch: int) -> None:
        super().on_epoch_end(epoch)
        self.trajectory.append(self.a.cpu().tolist())

    def record(self) -> dict[str, Any]:
        return self.fixed_phi_record("fixed", classes=self.params["classes"], picked=self.picked)
