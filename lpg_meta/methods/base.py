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

    name: ClassVar[str] = "base"  # set to the registry key by METHODS.register
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
        return self.step_on_logits(model, optimizer, model(x), y, step, loss_fn or self.loss)

    def step_on_logits(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        logits: torch.Tensor,
        y: torch.Tensor,
        step: StepInfo,
        loss_fn: LossFn,
    ) -> dict[str, float]:
        """The backward and update of a step whose forward is done (a meta step may share it)."""
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(logits, y)
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

    def state_dict(self) -> dict[str, Any]:
        """Everything the next step depends on, for a checkpoint (``load_state_dict`` restores it).

        Generic, so a new method needs no code: every attribute but ``params`` and ``ctx`` is
        captured as its state (modules, optimizers and objects with a ``state_dict``, torch
        generators, tensors, numbers, containers of them, and this package's plain objects such
        as ``ClassRule``, recursively). Override where an attribute needs more (``MetaStream``).
        """
        return {k: v for k, v in ((k, capture(v)) for k, v in vars(self).items() if k not in _CONTEXT)
                if v is not SKIP}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``state_dict()``'s output into this (set-up) method, in place where it can."""
        for key, saved in state.items():
            setattr(self, key, restore(getattr(self, key, None), saved))


_CONTEXT = ("params", "ctx")  # fixed by the config: rebuilt, never checkpointed
SKIP = object()  # not state (a function, a device, an iterator): rebuilt by the constructor


def capture(value: Any) -> Any:
    """A checkpointable copy of ``value`` (tensors, numbers, strings, lists and dicts), or ``SKIP``."""
    if hasattr(value, "state_dict") and not isinstance(value, type):
        return value.state_dict()
    if isinstance(value, torch.Generator):
        return value.get_state()
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        items = [capture(v) for v in value]
        return SKIP if any(v is SKIP for v in items) else items
    if isinstance(value, dict):
        pairs = {k: capture(v) for k, v in value.items()}
        return SKIP if any(v is SKIP for v in pairs.values()) else pairs
    if type(value).__module__.startswith("lpg_meta.") and hasattr(value, "__dict__"):
        return {k: v for k, v in ((k, capture(v)) for k, v in vars(value).items() if k not in _CONTEXT)
                if v is not SKIP}
    return SKIP


def restore(current: Any, saved: Any) -> Any:
    """``current`` with ``saved`` (from ``capture``) put back: in place for modules, optimizers,
    generators and tensors (optimizers keep their references), a new value for the rest."""
    if hasattr(current, "load_state_dict") and not isinstance(current, type):
        current.load_state_dict(saved)
        return current
    if isinstance(current, torch.Generator):
        current.set_state(saved)
        return current
    if isinstance(current, torch.Tensor) and isinstance(saved, torch.Tensor):
        if current.shape == saved.shape and current.dtype == saved.dtype:
            with torch.no_grad():
                current.copy_(saved)
            return current
        return saved.to(current.device)
    if isinstance(current, list) and isinstance(saved, list) and len(current) == len(saved):
        return [restore(c, v) for c, v in zip(current, saved, strict=True)]
    if type(current).__module__.startswith("lpg_meta.") and isinstance(saved, dict):
        for key, value in saved.items():
            setattr(current, key, restore(getattr(current, key, None), value))
        return current
    return saved
