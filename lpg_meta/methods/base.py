"""The method interface: a loss, a training step, and hooks the trainer calls."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class StepInfo:
    """Where the trainer is: epoch (0-based), global step, and totals."""

    epoch: int
    step: int
    steps_per_epoch: int
    epochs: int

    @property
    def progress(self) -> float:
        """Fraction of training done, in [0, 1)."""
        return self.step / max(1, self.steps_per_epoch * self.epochs)


@dataclass
class TrainContext:
    """What a method may know about the task before training starts."""

    num_classes: int
    class_counts: list[int]
    epochs: int
    steps_per_epoch: int
    meta_batches: Callable[[int], Iterator[tuple[torch.Tensor, torch.Tensor]]] | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))


class Method:
    """Base class of every method; plain cross-entropy training by default.

    Subclasses override ``per_sample_loss`` (loss-based methods), ``before_update``
    (parameter-level gradient perturbations), or ``train_step`` (methods with their own step).
    """

    name: ClassVar[str] = "base"
    display_name: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}
    search_space: ClassVar[dict[str, Any]] = {}
    needs_meta: ClassVar[bool] = False
    kind: ClassVar[str] = "loss"  # "loss", "step" (parameter-level) or "meta"
    # Time of a training step relative to plain cross-entropy (what `lpg-meta run --dry-run`
    # estimates with); a plug-in costs its own times its base's.
    step_cost: ClassVar[float] = 1.0

    def __init__(self, params: dict[str, Any], ctx: TrainContext) -> None:
        self.params = params
        self.ctx = ctx
        self.batch_flipped: torch.Tensor | None = None

    def observe_batch(self, flipped: torch.Tensor | None) -> None:
        """Which samples of the coming batch have a flipped label (None: unknown or no noise).

        Only a diagnostic may read it (a weight's share on flipped samples); training never does.
        """
        self.batch_flipped = flipped

    def setup(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
        """Called once before training."""

    def per_sample_loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-sample training loss ``[B]``."""
        return F.cross_entropy(logits, y, reduction="none")

    def loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Batch training loss (mean of the per-sample losses)."""
        return self.per_sample_loss(logits, y).mean()

    def before_update(self, model: torch.nn.Module, step: StepInfo) -> None:
        """Hook between backward and optimizer step (parameter-level perturbations)."""

    def train_step(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        x: torch.Tensor,
        y: torch.Tensor,
        step: StepInfo,
        loss_fn: LossFn | None = None,
    ) -> dict[str, float]:
        """One optimisation step; ``loss_fn`` lets a wrapper (LPG) substitute a perturbed loss."""
        loss_fn = loss_fn or self.loss
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        self.before_update(model, step)
        optimizer.step()
        return {"loss": loss.item()}

    def on_epoch_end(self, epoch: int) -> None:
        """Called after each epoch."""

    def eval_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits used for prediction (post-hoc adjustments override this)."""
        return logits

    def record(self) -> dict[str, Any]:
        """Method-specific data stored in ``result.json`` (e.g. LPG trajectories)."""
        return {}
