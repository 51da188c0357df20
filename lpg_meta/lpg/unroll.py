"""Backends that build theta'(phi) explicitly and differentiate through it (docs/method.md §3.2).

``higher`` unrolls any optimizer ``higher`` knows, for K look-ahead steps; ``torchfunc`` replays
``torch.optim.SGD`` out of place with ``torch.func.functional_call``. Both keep the graph of the
virtual step, so the meta-gradient costs a second-order backward through the network.
"""

from __future__ import annotations

from collections.abc import Callable

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

def zeros_for_none(
    params: list[torch.Tensor], grads: list[torch.Tensor | None]
) -> list[torch.Tensor]:
    """``grads`` with zeros (shaped like ``params``) where a parameter got no gradient."""
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads, strict=True)]


def full_precision(logits: torch.Tensor) -> torch.Tensor:
    """bf16 / fp16 logits (autocast) as float32; other dtypes unchanged.

    ``higher``'s functional model drops the real model's forward hooks, among them the one
    with which ``train.amp`` hands float32 logits to losses and perturbations.
    """
    return logits.float() if logits.dtype in (torch.bfloat16, torch.float16) else logits

def higher_backend(
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
            diffopt.step(train_loss(full_precision(fmodel(x)), y))
        meta_loss = F.cross_entropy(full_precision(fmodel(x_m)), y_m)
        grads = torch.autograd.grad(meta_loss, meta_params, allow_unused=True)
    return list(grads), meta_loss.item()

def sgd_update(
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

def torchfunc_backend(
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
                fast[n], bufs[n] = sgd_update(fast[n], g, bufs[n], group_of[id(named[n])])
    meta_loss = F.cross_entropy(torch.func.functional_call(model, fast, (x_m,)), y_m)
    grads = torch.autograd.grad(meta_loss, meta_params, allow_unused=True)
    return list(grads), meta_loss.item()
