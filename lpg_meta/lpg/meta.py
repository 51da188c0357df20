"""One-step look-ahead bilevel step (docs/method.md §3.2), for any perturbation module with parameters.

The meta loss is ``CE(f_{theta'(phi)}(x_m), y_m)`` where ``theta'(phi)`` is the real optimizer's
update of the real model's current parameters on the perturbed training loss. Backends differ only
in how they get its gradient; each is one function in ``BACKENDS`` (``unroll.py``: ``higher`` and
``torchfunc``; ``jvp.py``: the closed form, with ``J w`` exact by forward mode (``jvp``) or by a
central difference (``fd``)). The real model, its optimizer state, its
buffers (BatchNorm running statistics, ``num_batches_tracked``) and the global RNG are left
exactly as they were.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from lpg_meta.errors import UserError
from lpg_meta.lpg.jvp import cuda_devices, fd_backend, jvp_backend, require_one_sgd_step
from lpg_meta.lpg.unroll import (
    Backend,
    Batch,
    TrainLoss,
    higher_backend,
    torchfunc_backend,
    zeros_for_none,
)

BACKENDS: dict[str, Backend] = {
    "higher": higher_backend,
    "torchfunc": torchfunc_backend,
    "jvp": jvp_backend,
    "fd": fd_backend,
}
# Backends of the closed form (jvp.py): one SGD look-ahead step, from one forward at theta.
CLOSED_FORM = ("jvp", "fd")


def check_backend(requested: str, what: str = "meta backend") -> None:
    """Raise a UserError naming ``what`` unless ``requested`` is ``auto`` or a known backend.

    ``BACKENDS`` is read at call time, so a backend added to it later is accepted.
    """
    if requested != "auto" and requested not in BACKENDS:
        raise UserError(
            f"unknown {what} '{requested}'. Known: auto, {', '.join(sorted(BACKENDS))}."
        )


def resolve_backend(
    requested: str, optimizer: torch.optim.Optimizer, steps: int = 1, what: str = "meta backend"
) -> str:
    """``requested``, checked; ``auto`` picks ``jvp`` where it is exact, else ``higher``.

    A ``TrainLoss`` sees theta only through the logits, so ``jvp`` is exact for any of them
    whenever the look-ahead is one ``torch.optim.SGD`` step. ``what`` names the setting in errors.
    """
    check_backend(requested, what)
    sgd = type(optimizer) is torch.optim.SGD
    if requested == "auto":
        return "jvp" if sgd and steps == 1 else "higher"
    if requested in CLOSED_FORM:
        require_one_sgd_step(optimizer, steps, what, requested)
    if requested == "torchfunc" and not sgd:
        raise UserError(
            f"{what} 'torchfunc' replicates torch.optim.SGD only, but the optimizer is "
            f"{type(optimizer).__name__}; use {what} 'higher'."
        )
    return requested


@contextmanager
def preserved_state(model: nn.Module) -> Iterator[None]:
    """Restore the model's buffers and the global RNG state on exit.

    Buffers: the virtual forward passes must not move BatchNorm running statistics (a backend
    that runs the real module, like ``torchfunc``, updates them in place). RNG: the virtual
    forward on the train batch then draws the same dropout masks as the real step, and the real
    step sees the random stream it would see without LPG.
    """
    saved = [b.detach().clone() for b in model.buffers()]
    with torch.random.fork_rng(devices=cuda_devices(model)):
        try:
            yield
        finally:
            with torch.no_grad():
                for buf, old in zip(model.buffers(), saved, strict=True):
                    buf.copy_(old)


def lookahead_meta_grad(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: Batch,
    meta_batch: Batch,
    train_loss: TrainLoss,
    meta_params: list[torch.Tensor],
    backend: str = "higher",
    steps: int = 1,
) -> tuple[list[torch.Tensor], float]:
    """Gradient of the look-ahead meta loss with respect to ``meta_params``.

    Args:
        model: the real model (left unchanged; its current train/eval mode is used).
        optimizer: the real optimizer (its hyper-parameters and state define the virtual step;
            left unchanged).
        batch: the train batch ``(x, y)``.
        meta_batch: the clean meta batch ``(x_m, y_m)``.
        train_loss: ``(logits, y) -> loss`` applying the live (differentiable) perturbation.
        meta_params: the perturbation's parameters (phi).
        backend: a key of ``BACKENDS``, or ``"auto"`` (``resolve_backend``).
        steps: virtual steps, each on ``batch`` (1 = docs/method.md's one-step look-ahead).

    Returns:
        The gradients (zeros where a parameter did not affect the meta loss) and the meta loss.
    """
    backend = resolve_backend(backend, optimizer, steps)
    with preserved_state(model):
        grads, value = BACKENDS[backend](
            model, optimizer, batch, meta_batch, train_loss, meta_params, steps
        )
    return zeros_for_none(meta_params, grads), value


class BilevelStep:
    """The outer half of a bilevel step: the meta-optimizer of a module's parameters (phi), given
    their look-ahead meta-gradients (``lookahead_meta_grad``, which the method computes).

    Args:
        module: the perturbation (its trainable parameters are phi).
        meta_optimizer: ``"adam"`` or ``"sgd"``.
        meta_lr: meta learning rate.
        phi_decay: after each meta step ``phi *= 1 - phi_decay`` (pull toward no perturbation).
        weight_decay: the meta optimizer's weight decay.
    """

    def __init__(
        self,
        module: nn.Module,
        meta_optimizer: str = "adam",
        meta_lr: float = 1e-3,
        phi_decay: float = 0.0,
        weight_decay: float = 0.0,
    ) -> None:
        self.params: list[torch.Tensor] = [p for p in module.parameters() if p.requires_grad]
        if meta_optimizer == "adam":
            self.optimizer: torch.optim.Optimizer = torch.optim.Adam(
                self.params, lr=meta_lr, weight_decay=weight_decay
            )
        elif meta_optimizer == "sgd":
            self.optimizer = torch.optim.SGD(self.params, lr=meta_lr, weight_decay=weight_decay)
        else:
            raise UserError(f"unknown meta optimizer '{meta_optimizer}'. Known: adam, sgd.")
        self.phi_decay = phi_decay

    def apply(self, grads: list[torch.Tensor]) -> None:
        """One meta-optimizer step of phi on the given meta-gradients, then the decay."""
        for p, g in zip(self.params, grads, strict=True):
            p.grad = g.detach()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.phi_decay:
            with torch.no_grad():
                for p in self.params:
                    p.mul_(1 - self.phi_decay)
