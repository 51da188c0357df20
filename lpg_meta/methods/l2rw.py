"""L2RW (Ren et al. 2018), and the plumbing the meta-learned reweighting baselines share.

``l2rw``, ``mwnet`` and ``gdw`` (METHOD.md 4) learn from the clean meta split through the
one-step look-ahead of METHOD.md 3.2 (``lookahead_meta_grad``: the real optimizer's own step,
with the model's buffers, its optimizer state and the RNG left as they were). They are of kind
"meta", so LPG refuses to plug into them. During ``warmup_epochs`` they train with plain CE,
because nothing has been learned yet that could weight the loss.
"""

from __future__ import annotations

import time
from typing import Any

import torch
import torch.nn.functional as F

from lpg_meta.errors import UserError
from lpg_meta.lpg.jvp import jvp_meta_grad, rng_state
from lpg_meta.lpg.meta import (
    BACKENDS,
    TrainLoss,
    lookahead_meta_grad,
    resolve_backend,
)
from lpg_meta.methods._meta_stream import MetaStream
from lpg_meta.methods.base import LossFn, Method, StepInfo, TrainContext
from lpg_meta.registry import METHODS

Batch = tuple[torch.Tensor, torch.Tensor]

# Names shared with LPG on purpose (same meaning); the flat merge never sees both, since LPG
# does not compose with meta-based methods.
SHARED_DEFAULTS: dict[str, Any] = {
    "warmup_epochs": 0,
    "meta_interval": 1,
    "meta_batch_size": 100,
    # auto: the exact forward-mode jvp backend for one SGD look-ahead step, else higher.
    "backend": "auto",
}
SHARED_SPACE: dict[str, Any] = {"warmup_epochs": ("int", 0, 5)}


def require(ok: bool, params: dict[str, Any], key: str, rule: str) -> None:
    """Raise a UserError naming ``method.key`` unless ``ok``."""
    if not ok:
        raise UserError(f"method.{key} must be {rule}, got {params[key]!r}.")


def mean_ce(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Plain cross-entropy (warm-up steps)."""
    return F.cross_entropy(logits, y)


class MetaReweighting(Method):
    """Shared plumbing: settings checks, the meta-batch stream, timings and the real step."""

    kind = "meta"
    needs_meta = True

    def __init__(self, params: dict[str, Any], ctx: TrainContext) -> None:
        super().__init__(params, ctx)
        p = params
        # BACKENDS is read at call time, so a backend added to meta.py later is accepted here.
        require(p["backend"] == "auto" or p["backend"] in BACKENDS, p, "backend",
                f"auto or one of {sorted(BACKENDS)}")
        require(p["warmup_epochs"] >= 0, p, "warmup_epochs", "non-negative")
        require(p["meta_interval"] >= 1, p, "meta_interval", "at least 1")
        require(p["meta_batch_size"] >= 1, p, "meta_batch_size", "at least 1")
        self.backend = p["backend"]  # "auto" is resolved against the optimizer in setup()
        self.meta = MetaStream(ctx, p["meta_batch_size"], self.name)
        self.time_meta_s = 0.0
        self.time_real_s = 0.0
        self.reuse_forward = False  # set by setup()
        # (train inputs, their logits at theta): the meta step's forward, kept for the real step.
        self._shared: tuple[torch.Tensor, torch.Tensor] | None = None

    def setup(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
        self.meta.require()
        self.backend = resolve_backend(self.params["backend"], optimizer, what="method.backend")
        self.reuse_forward = self.backend == "jvp"

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

        Under ``jvp`` the forward at theta is the real step's: it is kept for the ``real_step``
        on the same batch that follows, so BatchNorm statistics move once per step.
        """
        if not self.reuse_forward:
            return lookahead_meta_grad(
                model, optimizer, batch, meta_batch, virtual_loss, meta_params, self.backend
            )
        start = time.perf_counter()
        rng = rng_state(model)
        logits = model(batch[0])
        forward_s = time.perf_counter() - start
        # Book the shared forward as real-step time; the caller times its whole meta block.
        self.time_real_s += forward_s
        self.time_meta_s -= forward_s
        grads, value = jvp_meta_grad(
            model, optimizer, batch, logits, rng, meta_batch, virtual_loss, meta_params, True
        )
        self._shared = (batch[0], logits)
        return grads, value

    def warming_up(self, step: StepInfo) -> bool:
        return step.epoch < self.params["warmup_epochs"]

    def is_meta_step(self, step: StepInfo) -> bool:
        return not self.warming_up(step) and step.step % self.params["meta_interval"] == 0

    def real_step(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        x: torch.Tensor,
        y: torch.Tensor,
        loss_fn: LossFn,
    ) -> dict[str, float]:
        """One optimizer step on ``loss_fn`` (weights already fixed, i.e. detached), timed."""
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        shared, self._shared = self._shared, None
        logits = shared[1] if shared is not None and shared[0] is x else model(x)
        loss = loss_fn(logits, y)
        loss.backward()
        optimizer.step()
        self.time_real_s += time.perf_counter() - start
        return {"loss": loss.item()}

    def on_epoch_end(self, epoch: int) -> None:
        self.meta.end_epoch()

    def base_record(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "backend_requested": self.params["backend"],
            "meta_loss": self.meta.per_epoch,
            "time_meta_s": self.time_meta_s,
            "time_real_s": self.time_real_s,
        }


def normalized_weights(grad: torch.Tensor) -> torch.Tensor:
    """L2RW's example weights ``max(-grad, 0) / sum``; all zeros stay zeros (no division by 0)."""
    w = (-grad).clamp(min=0)
    total = w.sum()
    # torch.where instead of an ``if``: no host synchronisation on a GPU.
    return w / torch.where(total > 0, total, torch.ones_like(total))


@METHODS.register("l2rw")
class L2RW(MetaReweighting):
    """Learning to Reweight Examples: per-batch weights from one look-ahead meta-gradient.

    Each meta step perturbs the per-sample CE losses by weights ``eps`` (at 0), takes the
    look-ahead gradient of the meta loss with respect to ``eps``, and steps on
    ``sum_i w_i l_i`` with ``w = max(-grad, 0)`` normalised to sum 1. A batch whose weights are
    all 0 gives a zero loss; the optimizer still steps, so momentum and weight decay act, as in
    the reference. Steps between meta steps (``meta_interval`` > 1) use plain CE.
    """

    name = "l2rw"
    display_name = "L2RW"
    defaults = dict(SHARED_DEFAULTS)
    search_space = dict(SHARED_SPACE)

    def __init__(self, params: dict[str, Any], ctx: TrainContext) -> None:
        super().__init__(params, ctx)
        self._epoch_zero: list[float] = []
        self.zero_fraction: list[float | None] = []

    def example_weights(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        batch: Batch,
        meta_batch: Batch,
    ) -> tuple[torch.Tensor, torch.Tensor, float]:
        """Return the weights, the meta-gradient ``d meta_loss / d eps`` at 0, and the meta loss."""
        y = batch[1]
        ref = next(model.parameters())
        eps = torch.zeros(len(y), dtype=ref.dtype, device=y.device, requires_grad=True)

        def virtual_loss(logits: torch.Tensor, yy: torch.Tensor) -> torch.Tensor:
            return (eps * F.cross_entropy(logits, yy, reduction="none")).sum()

        (grad,), value = self.look_ahead(model, optimizer, batch, meta_batch, virtual_loss, [eps])
        return normalized_weights(grad.detach()), grad.detach(), value

    def train_step(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        x: torch.Tensor,
        y: torch.Tensor,
        step: StepInfo,
        loss_fn: LossFn | None = None,
    ) -> dict[str, float]:
        if not self.is_meta_step(step):
            return self.real_step(model, optimizer, x, y, mean_ce)
        start = time.perf_counter()
        w, _, value = self.example_weights(model, optimizer, (x, y), self.meta.next(x.device))
        self.meta.log(value)
        self._epoch_zero.append((w == 0).double().mean().item())
        self.time_meta_s += time.perf_counter() - start

        def weighted(logits: torch.Tensor, yy: torch.Tensor) -> torch.Tensor:
            return (w * F.cross_entropy(logits, yy, reduction="none")).sum()

        return self.real_step(model, optimizer, x, y, weighted)

    def on_epoch_end(self, epoch: int) -> None:
        super().on_epoch_end(epoch)
        zeros = self._epoch_zero
        self.zero_fraction.append(sum(zeros) / len(zeros) if zeros else None)
        self._epoch_zero = []

    def record(self) -> dict[str, Any]:
        return {"l2rw": {**self.base_record(), "zero_fraction": self.zero_fraction}}
