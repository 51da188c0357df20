"""Where a reweighting method puts its weight on a noisy row: flipped-sample share and AUC.

The trainer tells the method which samples of each batch had their label flipped
(``Method.observe_batch``); the method hands the weights its real step used to a ``WeightLog``.
Per epoch the log keeps the share of the total weight on flipped samples and the AUC of the
weights for clean against flipped samples: the probability that a random clean sample weighs
more than a random flipped one, ties counting half (0.5 = no separation, 1 = every clean sample
above every flipped one).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def flipped_share(weights: np.ndarray, flipped: np.ndarray) -> float | None:
    """``sum_{flipped} w / sum w``; None when the total weight is 0."""
    total = float(weights.sum())
    return float(weights[flipped].sum()) / total if total > 0 else None


def clean_vs_flipped_auc(weights: np.ndarray, flipped: np.ndarray) -> float | None:
    """P(w_clean > w_flipped) + P(w_clean = w_flipped) / 2; None without both kinds of sample.

    The Mann-Whitney statistic from average ranks, O(n log n): no pairwise matrix.
    """
    n_flipped = int(flipped.sum())
    n_clean = len(flipped) - n_flipped
    if n_clean == 0 or n_flipped == 0:
        return None
    _, inverse, counts = np.unique(weights, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    ranks = (ends - (counts - 1) / 2.0)[inverse]  # 1-based, ties get their average rank
    clean_ranks = float(ranks[~flipped].sum())
    return (clean_ranks - n_clean * (n_clean + 1) / 2.0) / (n_clean * n_flipped)


class WeightLog:
    """Collects (weight, flipped) pairs over an epoch and summarises them at its end."""

    def __init__(self) -> None:
        # Tensors, not arrays: a checkpoint (Method.state_dict) captures them mid-epoch.
        self._weights: list[torch.Tensor] = []
        self._flipped: list[torch.Tensor] = []
        self.share: list[float | None] = []
        self.auc: list[float | None] = []
        self.seen = False  # any flipped mask at all (a noisy row, in-process batches)

    def add(self, weights: torch.Tensor, flipped: torch.Tensor | None) -> None:
        """Log one step's per-sample weights ``[B]`` with its flipped mask (None: not known)."""
        if flipped is None:
            return
        self.seen = True
        self._weights.append(weights.detach().double().cpu().flatten())
        self._flipped.append(flipped.detach().cpu().bool().flatten())

    def end_epoch(self) -> None:
        """Close the epoch (None, JSON null, for an epoch without logged weights)."""
        if self._weights:
            w, f = torch.cat(self._weights).numpy(), torch.cat(self._flipped).numpy()
            self.share.append(flipped_share(w, f))
            self.auc.append(clean_vs_flipped_auc(w, f))
        else:
            self.share.append(None)
            self.auc.append(None)
        self._weights, self._flipped = [], []

    def record(self) -> dict[str, Any]:
        """The per-epoch series for result.json; empty on rows without label noise."""
        if not self.seen:
            return {}
        return {"flipped_weight_share": self.share, "weight_auc_clean_vs_flipped": self.auc}
