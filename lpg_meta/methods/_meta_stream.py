"""What every meta-learned method shares: the clean meta-batch stream and the base class."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import torch

from lpg_meta.lpg.jvp import jvp_meta_grad, rng_state
from lpg_meta.lpg.meta import (
    CLOSED_FORM,
    TrainLoss,
    lookahead_meta_grad,
    resolve_backend,
)
from lpg_meta.methods.base import LossFn, Method, StepInfo, TrainContext

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
            self._batches = self._open()
        x_m, y_m = next(self._batches)
        return x_m.to(device, non_blocking=True), y_m.to(device, non_blocking=True)

    def _open(self) -> Iterator[Batch]:
        # catalog.check_meta_split refused a config without a meta split before any batch
        assert self.ctx.meta_batches is not None, "the trainer passes a meta-batch factory"
        return self.ctx.meta_batches(self.batch_size)

    def state_dict(self) -> dict[str, Any]:
        """The stream's position (its batch order and generator) and this epoch's meta losses."""
        if self._batches is not None and not hasattr(self._batches, "state_dict"):
            raise TypeError(f"{self.method}'s meta-batch stream cannot be checkpointed: the trainer's "
                            "meta_batch_source gives one that can.")
        position = self._batches.state_dict() if self._batches is not None else None  # type: ignore[attr-defined]
        return {"position": position, "epoch": list(self._epoch), "per_epoch": list(self.per_epoch)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue where ``state_dict`` was taken: the same meta batches come next."""
        self._epoch, self.per_epoch = list(state["epoch"]), list(state["per_epoch"])
        self._batches = None
        if state["position"] is not None:
            self._batches = self._open()
            self._batches.load_state_dict(state["position"])  # type: ignore[attr-defined]

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


class MetaLearnedMethod(Method):
    """A method that learns from the clean meta split by one-step look-ahead (docs/method.md §3.2).

    Owns what every such method shares: the meta-step schedule (``warmup_epochs``,
    ``meta_interval``), the shared settings and their checks, the meta-batch stream, the
    backend, the shared forward of the ``jvp`` backend, and the meta / real time split.
    Subclasses say what they learn: ``meta_update`` (one look-ahead and the update it drives)
    and ``real_loss`` (the loss the real step trains on).
    """

    def __init__(self, params: dict[str, Any], ctx: TrainContext) -> None:
        super().__init__(params, ctx)
        p = params  # ranges checked against the declaration (catalog/methods.py) when resolved
        self.backend = p["backend"]  # "auto" is resolved against the optimizer in setup()
        self.meta = MetaStream(ctx, p["meta_batch_size"], self.name)
        self.time_meta_s = 0.0
        self.time_real_s = 0.0
        self.reuse_forward = False  # set by setup()
        # (train inputs, their logits at theta): the meta step's forward, kept for the real step.
        self._shared: tuple[torch.Tensor, torch.Tensor] | None = None

    @property
    def lookahead_steps(self) -> int:
        """Virtual steps per look-ahead (1 = docs/method.md's one-step look-ahead)."""
        return 1

    def setup(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
        super().setup(model, optimizer)
        self.backend = resolve_backend(
            self.params["backend"], optimizer, self.lookahead_steps, what="method.backend"
        )
        self.reuse_forward = self.backend in CLOSED_FORM and self.can_share_forward()

    def can_share_forward(self) -> bool:
        """Whether the real step is a plain one-forward step that can take the meta step's."""
        return True

    def meta_step_lr(self, lr: float) -> float:
        """The meta optimizer's step size for ``lr``, a rate per training step: ``lr * meta_interval``.

        A meta step every ``meta_interval`` steps then moves the learned parameters about as far
        over a run as one every step (Adam's step is about its learning rate); without the
        scaling, LPG at interval 10 lost its long-tail gain (digits_lt: -4.4 points).
        """
        return lr * self.params["meta_interval"]

    def warming_up(self, step: StepInfo) -> bool:
        return step.epoch < self.params["warmup_epochs"]

    def is_meta_step(self, step: StepInfo) -> bool:
        return not self.warming_up(step) and step.step % self.params["meta_interval"] == 0

    def meta_update(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        batch: Batch,
        meta_batch: Batch,
        loss_fn: LossFn | None,
    ) -> float:
        """One meta step (through ``look_ahead``) and the update it drives; the meta loss."""
        raise NotImplementedError

    def real_loss(self, step: StepInfo, loss_fn: LossFn | None) -> LossFn:
        """The loss of this step's real update, with whatever was learned held fixed."""
        raise NotImplementedError

    def train_step(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        x: torch.Tensor,
        y: torch.Tensor,
        step: StepInfo,
        loss_fn: LossFn | None = None,
    ) -> dict[str, float]:
        if self.is_meta_step(step):
            start = time.perf_counter()
            meta_batch = self.meta.next(x.device)
            self.meta.log(self.meta_update(model, optimizer, (x, y), meta_batch, loss_fn))
            self.time_meta_s += time.perf_counter() - start
        return self.real_step(model, optimizer, x, y, step, self.real_loss(step, loss_fn))

    def look_ahead(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        batch: Batch,
        meta_batch: Batch,
        virtual_loss: TrainLoss,
        meta_params: list[torch.Tensor],
    ) -> tuple[list[torch.Tensor], float]:
        """``lookahead_meta_grad`` with this method's backend.

        Under a shared forward (``reuse_forward``) the forward at theta is the real step's: it
        is kept for the ``real_step`` on the same batch that follows, so BatchNorm statistics
        move once per step.
        """
        if not self.reuse_forward:
            return lookahead_meta_grad(
                model, optimizer, batch, meta_batch, virtual_loss, meta_params, self.backend,
                self.lookahead_steps,
            )
        start = time.perf_counter()
        rng = rng_state(model)  # the jvp replays this forward's dropout masks
        logits = model(batch[0])
        forward_s = time.perf_counter() - start
        # Book the shared forward as real-step time; train_step times the whole meta block.
        self.time_real_s += forward_s
        self.time_meta_s -= forward_s
        grads, value = jvp_meta_grad(
            model, optimizer, batch, logits, rng, meta_batch, virtual_loss, meta_params, True,
            estimate=self.backend,
        )
        self._shared = (batch[0], logits)
        return grads, value

    def real_step(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        x: torch.Tensor,
        y: torch.Tensor,
        step: StepInfo,
        loss_fn: LossFn,
    ) -> dict[str, float]:
        """One optimizer step on ``loss_fn`` (on the shared forward if the meta step made one)."""
        start = time.perf_counter()
        shared, self._shared = self._shared, None
        if shared is None:
            out = self.plain_step(model, optimizer, x, y, step, loss_fn)
        else:
            out = self.step_on_logits(model, optimizer, shared[1], y, step, loss_fn)
        self.time_real_s += time.perf_counter() - start
        return out

    def plain_step(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        x: torch.Tensor,
        y: torch.Tensor,
        step: StepInfo,
        loss_fn: LossFn,
    ) -> dict[str, float]:
        """The real step with its own forward: ``Method``'s plain step."""
        return Method.train_step(self, model, optimizer, x, y, step, loss_fn)

    def on_epoch_end(self, epoch: int) -> None:
        super().on_epoch_end(epoch)
        self.meta.end_epoch()

    def base_record(self) -> dict[str, Any]:
        """What every meta-learned method stores: backend, meta losses and the time split."""
        return {
            "backend": self.backend,
            "backend_requested": self.params["backend"],
            "meta_loss": self.meta.per_epoch,
            "time_meta_s": self.time_meta_s,
            "time_real_s": self.time_real_s,
        }
