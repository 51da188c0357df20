"""Per-class amplification of the logit gradient: the mean of ``||g~|| / ||g||`` over a class's samples.

The amplify/dampen conjecture of the LPG paper is about this number: above 1 a class's gradient
is amplified, below 1 dampened. It is accumulated inside the real step's backward, from the
``g`` and ``g~`` the perturbation computes anyway (two row norms and an ``index_add`` per batch,
on the device: no host sync), and closed once per epoch.
"""

from __future__ import annotations

from typing import Any

import torch

from lpg_meta.lpg.forms import Transform


class AmplificationLog:
    """Per epoch and class, the mean over the class's training samples of ``||g~|| / ||g||``.

    The class is the sample's training label (the one the class-level perturbation is indexed
    by). A sample whose ``g`` is exactly 0 has no ratio and is left out; a class without a
    counted sample in an epoch gets None (JSON null). A two-pass step (SAM) counts both passes.

    Args:
        num_classes: C.
    """

    def __init__(self, num_classes: int) -> None:
        # Tensors, not floats: a checkpoint (Method.state_dict) captures them mid-epoch.
        self.ratio_sum = torch.zeros(num_classes, dtype=torch.float64)
        self.count = torch.zeros(num_classes, dtype=torch.float64)
        self.per_epoch: list[list[float | None]] = []

    @torch.no_grad()
    def add(self, g: torch.Tensor, g_tilde: torch.Tensor, y: torch.Tensor) -> None:
        """Log one batch of per-sample logit gradients ``g``, their perturbed ``g_tilde`` ``[B, C]``."""
        if self.ratio_sum.device != g.device:
            self.ratio_sum, self.count = self.ratio_sum.to(g.device), self.count.to(g.device)
        norm = torch.linalg.vector_norm(g.detach().double(), dim=1)
        norm_tilde = torch.linalg.vector_norm(g_tilde.detach().double(), dim=1)
        counted = norm > 0
        ratio = torch.where(counted, norm_tilde / norm.clamp_min(torch.finfo(norm.dtype).tiny), 0.0)
        self.ratio_sum.index_add_(0, y, ratio)
        self.count.index_add_(0, y, counted.double())

    def wrap(self, transform: Transform) -> Transform:
        """``transform`` that also logs each batch it perturbs."""

        def logged(g: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            g_tilde = transform(g, y)
            self.add(g, g_tilde, y)
            return g_tilde

        return logged

    def end_epoch(self) -> None:
        """Close the epoch: its per-class means."""
        means = (self.ratio_sum / self.count.clamp_min(1)).cpu().tolist()
        counts = self.count.cpu().tolist()
        self.per_epoch.append([m if n > 0 else None for m, n in zip(means, counts, strict=True)])
        self.ratio_sum.zero_()
        self.count.zero_()

    def record(self) -> dict[str, Any]:
        """The per-epoch, per-class series for result.json."""
        return {"amplification": self.per_epoch}
