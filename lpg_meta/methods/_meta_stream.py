"""What every meta-learned method shares: the clean meta-batch stream and its loss log."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from lpg_meta.methods.base import TrainContext

Batch = tuple[torch.Tensor, torch.Tensor]


class MetaStream:
    """Draws clean meta batches lazily and keeps the mean meta loss of each epoch.

    Args:
        ctx: the training context (its ``meta_batches`` factory).
        batch_size: the meta batch size.
        method: the method's name.
    """

    def __init__(self, ctx: TrainContext, batch_size: int, method: str) -> None:
        self.ctx, self.batch_size, self.method = ctx, batch_size, method
        self._batches: Iterator[Batch] | None = None
        self._epoch: list[float] = []
        self.per_epoch: list[float | None] = []

    def next(self, device: torch.device) -> Batch:
        """The next meta batch on ``device``; the stream starts at the first call (after warm-up)."""
        if self._batches is None:
            assert self.ctx.meta_batches is not None, "the trainer passes a meta-batch factory"
            self._batches = self.ctx.meta_batches(self.batch_size)
        x_m, y_m = next(self._batches)
        return x_m.to(device, non_blocking=True), y_m.to(device, non_blocking=True)

    def log(self, meta_loss: float) -> None:
        """Record one meta step's look-ahead loss."""
        self._epoch.append(meta_loss)

    def logged(self) -> list[float]:
        """The meta losses logged so far in this epoch."""
        return list(self._epoch)

    def end_epoch(self) -> None:
        """Close the epoch: its mean meta loss, or None (JSON null) if it had no meta step."""
        self.per_epoch.append(sum(self._epoch) / len(self._epoch) if self._epoch else None)
        self._epoch = []
