"""One-step look-ahead bilevel step (METHOD.md 3.2), for any perturbation module with parameters.

The meta loss is ``CE(f_{theta'(phi)}(x_m), y_m)`` where ``theta'(phi)`` is the real optimizer's
update of the real model's current parameters on the perturbed training loss. Backends differ only
in how they build ``theta'``; each is one function in ``BACKENDS`` (a forward-mode ``jvp`` backend
can be added there). The real model, its optimizer state, its buffers (BatchNorm running statistics,
``num_batches_tracked``) and the global RNG are left exactly as they were.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from lpg_meta.errors import UserError

Batch = tuple[torch.Tensor, torch.Tensor]
TrainLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
# (model, optimizer, train batch, meta batch, train_loss, meta params, look-ahead steps)
#   -> (d meta_loss / d meta params, meta loss value)
Backend = Callable[
    [nn.Module, torch.optim.Optimizer, Batch, Batch, TrainLoss, list[torch.Tensor], int],
    tuple[list[torch.Tensor | None], float],
]


def _higher_backend(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: Batch,
    meta_batch: Batch,
    train_loss: TrainLoss,
    meta_params: list[torch.Tensor],
    steps: int,
) -> tuple[list[torch.Tensor | None], float]:
    """Unroll with ``higher`` (any optimizer ``higher`` knows; K-step unrolls)."""
    import higher  # imported here: only this backend needs it

    (x, y), (x_m, y_m) = batch, meta_batch
    # copy_initial_weights=True: the fast weights start as detached clones of the current real
    # parameters, so theta' depends on phi only and nothing flows back into the real model.
    # higher also clones the optimizer state (momentum buffers) and the module buffers.
    with higher.innerloop_ctx(
        model, optimizer, copy_initial_weights=True, track_higher_grads=True
    ) as (fmodel, diffopt):
        for _ in range(steps):
            diffopt.step(train_loss(fmodel(x), y))
        meta_loss = F.cross_entropy(fmodel(x_m), y_m)
        grads = torch.autograd.grad(meta_loss, meta_params, allow_unused=True)
    return list(grads), meta_loss.item()


def _sgd_update(
    p: torch.Tensor, g: torch.Tensor, buf: torch.Tensor | None, group: dict
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Out-of-place ``torch.optim.SGD`` update of one parameter (same order of operations)."""
    if group.get("maximize", False):
        g = -g
    if group["weight_decay"] != 0:
        g = g + group["weight_decay"] * p
    momentum = group["momentum"]
    if momentum != 0:
        # First step: torch.optim.SGD starts the buffer at the gradient itself (no dampening).
        buf = g if buf is None else buf * momentum + (1 - group["dampening"]) * g
        g = g + momentum * buf if group["nesterov"] else buf
    return p - group["lr"] * g, buf


def _torchfunc_backend(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: Batch,
    meta_batch: Batch,
    train_loss: TrainLoss,
    meta_params: list[torch.Tensor],
    steps: int,
) -> tuple[list[torch.Tensor | None], float]:
    """``torch.func.functional_call`` + ``autograd.grad(create_graph=True)``; SGD only."""
    if type(optimizer) is not torch.optim.SGD:
        raise UserError(
            f"meta backend 'torchfunc' replicates torch.optim.SGD only, but the optimizer is "
            f"{type(optimizer).__name__}; use backend 'higher'."
        )
    (x, y), (x_m, y_m) = batch, meta_batch
    named = dict(model.named_parameters())
    group_of = {id(p): group for group in optimizer.param_groups for p in group["params"]}
    trained = [n for n, p in named.items() if p.requires_grad and id(p) in group_of]
    # Detached aliases (no copy): gradients reach phi through the update, never the real .grad.
    fast = {n: p.detach() for n, p in named.items()}
    for n in trained:
        fast[n].requires_grad_()
    bufs = {n: optimizer.state.get(named[n], {}).get("momentum_buffer") for n in trained}
    for _ in range(steps):
        loss = train_loss(torch.func.functional_call(model, fast, (x,)), y)
        grads = torch.autograd.grad(
            loss, [fast[n] for n in trained], create_graph=True, allow_unused=True
        )
        fast = dict(fast)
        for n, g in zip(trained, grads, strict=True):
            if g is not None:  # torch.optim.SGD skips parameters without a gradient
                fast[n], bufs[n] = _sgd_update(fast[n], g, bufs[n], group_of[id(named[n])])
    meta_loss = F.cross_entropy(torch.func.functional_call(model, fast, (x_m,)), y_m)
    grads = torch.autograd.grad(meta_loss, meta_params, allow_unused=True)
    return list(grads), meta_loss.item()


BACKENDS: dict[str, Backend] = {"higher": _higher_backend, "torchfunc": _torchfunc_backend}


@contextmanager
def preserved_state(model: nn.Module) -> Iterator[None]:
    """Restore the model's buffers and the global RNG state on exit.

    Buffers: the virtual forward passes must not move BatchNorm running statistics (a backend
    that runs the real module, like ``torchfunc``, updates them in place). RNG: the virtual
    forward on the train batch then draws the same dropout masks as the real step, and the real
    step sees the random stream it would see without LPG.
    """
    saved = [b.detach().clone() for b in model.buffers()]
    devices = sorted({t.device.index or 0 for t in model.parameters() if t.is_cuda})
    with torch.random.fork_rng(devices=devices):
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
        backend: a key of ``BACKENDS``.
        steps: virtual steps, each on ``batch`` (1 = METHOD.md's one-step look-ahead).

    Returns:
        The gradients (zeros where a parameter did not affect the meta loss) and the meta loss.
    """
    if backend not in BACKENDS:
        raise UserError(f"unknown meta backend '{backend}'. Known: {', '.join(sorted(BACKENDS))}.")
    with preserved_state(model):
        grads, value = BACKENDS[backend](
            model, optimizer, batch, meta_batch, train_loss, meta_params, steps
        )
    grads = [
        torch.zeros_like(p) if g is None else g for p, g in zip(meta_params, grads, strict=True)
    ]
    return grads, value


class BilevelStep:
    """Meta-learns a perturbation module's parameters by one-step look-ahead.

    Args:
        module: the perturbation (its trainable parameters are phi).
        meta_optimizer: ``"adam"`` or ``"sgd"``.
        meta_lr: meta learning rate.
        phi_decay: after each meta step ``phi *= 1 - phi_decay`` (pull toward no perturbation).
        backend: a key of ``BACKENDS``.
        steps: virtual look-ahead steps.
    """

    def __init__(
        self,
        module: nn.Module,
        meta_optimizer: str = "adam",
        meta_lr: float = 1e-3,
        phi_decay: float = 0.0,
        backend: str = "higher",
        steps: int = 1,
    ) -> None:
        self.params = [p for p in module.parameters() if p.requires_grad]
        if meta_optimizer == "adam":
            self.optimizer: torch.optim.Optimizer = torch.optim.Adam(self.params, lr=meta_lr)
        elif meta_optimizer == "sgd":
            self.optimizer = torch.optim.SGD(self.params, lr=meta_lr)
        else:
            raise UserError(f"unknown meta optimizer '{meta_optimizer}'. Known: adam, sgd.")
        if backend not in BACKENDS:
            raise UserError(
                f"unknown meta backend '{backend}'. Known: {', '.join(sorted(BACKENDS))}."
            )
        self.phi_decay = phi_decay
        self.backend = backend
        self.steps = steps

    def step(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        batch: Batch,
        meta_batch: Batch,
        train_loss: TrainLoss,
    ) -> float:
        """One meta update of phi; returns the look-ahead meta loss (before the update)."""
        grads, value = lookahead_meta_grad(
            model, optimizer, batch, meta_batch, train_loss, self.params, self.backend, self.steps
        )
        for p, g in zip(self.params, grads, strict=True):
            p.grad = g.detach()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.phi_decay:
            with torch.no_grad():
                for p in self.params:
                    p.mul_(1 - self.phi_decay)
        return value
