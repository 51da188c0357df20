"""Class-balanced loss (Cui et al. 2019; docs/method.md §4), and the helpers it shares.

``safe_counts``, ``class_balanced_weights`` and ``weighted_per_sample`` are also used by
``ldam``/``ldam_drw``, ``la``/``la_posthoc``, ``bsoftmax`` and ``lpl``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from lpg_meta.methods.base import Method, TrainContext
from lpg_meta.methods.focal import focal_per_sample
from lpg_meta.registry import METHODS


def safe_counts(counts: Sequence[int]) -> torch.Tensor:
    """Class counts as float64 on the CPU, an empty class counted as 1.

    Methods move what they derive from it to ``ctx.device`` once, so that a training step only
    casts it (a copy from the host in every step would synchronise a GPU).

    An empty class never appears in a batch, so its value only has to keep log n_c,
    n_c ** -1/4 and 1 - beta ** n_c away from -inf, inf and 0.
    """
    return torch.tensor(list(counts), dtype=torch.float64).clamp_min(1.0)


def class_balanced_weights(counts: Sequence[int], beta: float) -> torch.Tensor:
    """``w_c = (1 - beta) / (1 - beta ** n_c)``, normalised to sum C (float64, CPU)."""
    n = safe_counts(counts)
    if beta == 0.0:  # (1 - 0) / (1 - 0 ** n) = 1 for every class: no reweighting.
        return torch.ones_like(n)
    w = (1.0 - beta) / (1.0 - beta**n)
    return w / w.sum() * len(n)


def weighted_per_sample(
    losses: torch.Tensor, y: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """Per-sample losses ``B * w_{y_i} * l_i / sum_j w_{y_j}``.

    Their plain mean is the weighted mean ``sum_i w_i l_i / sum_i w_i`` that
    ``F.cross_entropy(weight=w)`` computes (as in kaidic/LDAM-DRW), so the loss keeps its scale
    however the batch is drawn, and ``loss == per_sample_loss.mean()`` still holds (LPG relies
    on the batch loss being the mean of the per-sample ones).
    """
    w = weights.to(losses)[y]
    return w * losses * (len(y) / w.sum())


@METHODS.register("cb")
class ClassBalanced(Method):
    """Class-balanced CE or focal loss: each sample weighted by the weight of its class.

    With ``base_loss: focal`` this is Cui et al.'s form, ``sum_i w_i (1 - p_i)^gamma CE_i /
    sum_i w_i``: the modulating factor comes from the model's own ``p_i``. kaidic/LDAM-DRW's
    ``FocalLoss(weight=w)`` differs: it takes the factor from the *weighted* CE and averages
    plainly, ``mean_i (1 - exp(-w_i CE_i))^gamma w_i CE_i`` (a different loss whenever
    ``w_i != 1``). We keep Cui et al.'s, the paper that defines CB-focal.
    """


    def __init__(self, params: dict[str, Any], ctx: TrainContext) -> None:
        super().__init__(params, ctx)
        self.weights = class_balanced_weights(ctx.class_counts, params["beta"]).to(ctx.device)

    def per_sample_loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.params["base_loss"] == "focal":
            losses = focal_per_sample(logits, y, self.params["gamma"])
        else:
            losses = F.cross_entropy(logits, y, reduction="none")
        return weighted_per_sample(losses, y, self.weights)
