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
        self.sums = torch.zeros(num_classes, 2, dtype=torch.float64)  # per class: sum of ratios, samples counted
        self.per_epoch: list[list[float | None]] = []

    @torch.no_grad()
    def add(self, g: torch.Tensor, g_tilde: torch.Tensor, y: torch.Tensor) -> None:
        """Log one batch of per-sample logit gradients ``g``, their perturbed ``g_tilde`` ``[B, C]``."""
        if self.sums.device != g.device:
            self.sums = self.sums.to(g.device)
        # Few kernels on a [2, B, C] tensor: on small batches their launch, not the arithmetic, is the cost.
        norms = torch.linalg.vector_norm(torch.stack((g.detach(), g_tilde.detach())).double(), dim=2)
        counted = norms[0] > 0
        ratio = torch.where(counted, norms[1] / norms[0], 0.0)
        self.sums.index_add_(0, y, torch.stack((ratio, counted.double()), dim=1))

    def wrap(self, transform: Transform) -> Transform:
        """``transform`` that also logs each batch it perturbs."""

        def logged(g: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            g_tilde = transform(g, y)
            self.add(g, g_tilde, y)
            return g_tilde

        return logged

    def end_epoch(self) -> None:
        """Close the epoch: its per-class means."""
        self.per_epoch.append([float(total) / n if n > 0 else None for total, n in self.sums.cpu().tolist()])
        self.sums.zero_()

    def record(self) -> dict[str, Any]:
        """The per-epoch, per-class series for result.json."""
        return {"amplification": self.per_epoch}
