"""One-step look-ahead bilevel step (METHOD.md 3.2), for any perturbation module with parameters.

The meta loss is ``CE(f_{theta'(phi)}(x_m), y_m)`` where ``theta'(phi)`` is the real optimizer's
update of the real model's current parameters on the perturbed training loss. Backends differ only
in how they build ``theta'``; each is one function in ``BACKENDS``. The real model, its optimizer
state, its buffers (BatchNorm running statistics, ``num_batches_tracked``) and the global RNG are
left exactly as they were.

``jvp`` (exact for one ``torch.optim.SGD`` step): with ``U = f_theta(x)`` the batch logits and
``H(phi) = dL_train(U; phi) / dU``, the virtual step is ``theta' = theta - lr * c * J^T H(phi) +
(terms free of phi)``, so ``d meta_loss / d phi = d/dphi <H(phi), J w>`` with
``w = -lr * c * v``, ``v = grad of the meta loss at theta'`` and ``J w`` one forward-mode JVP of
the logits. No second-order backward through the network and no graph of the virtual step.
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


def _full_precision(logits: torch.Tensor) -> torch.Tensor:
    """bf16 / fp16 logits (autocast) as float32; other dtypes unchanged.

    ``higher``'s functional model drops the real model's forward hooks, among them the one
    with which ``train.amp`` hands float32 logits to losses and perturbations.
    """
    return logits.float() if logits.dtype in (torch.bfloat16, torch.float16) else logits


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
            diffopt.step(train_loss(_full_precision(fmodel(x)), y))
        meta_loss = F.cross_entropy(_full_precision(fmodel(x_m)), y_m)
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


RngState = tuple[torch.Tensor, list[torch.Tensor]]


def _cuda_devices(model: nn.Module) -> list[int]:
    return sorted({t.device.index or 0 for t in model.parameters() if t.is_cuda})


def rng_state(model: nn.Module) -> RngState:
    """The global RNG state (CPU and the model's GPUs): lets a later forward replay dropout masks."""
    return torch.get_rng_state(), [torch.cuda.get_rng_state(d) for d in _cuda_devices(model)]


def _set_rng_state(model: nn.Module, state: RngState) -> None:
    torch.set_rng_state(state[0])
    for device, cuda_state in zip(_cuda_devices(model), state[1], strict=True):
        torch.cuda.set_rng_state(cuda_state, device)


def _sgd_gain(group: dict, has_buffer: bool) -> float:
    """``c`` in ``d theta' / d grad = -lr * c`` for one ``torch.optim.SGD`` step.

    Weight decay and the old momentum buffer add terms free of the gradient, so only these count:
    a new buffer is the gradient itself (no dampening), an old one takes ``(1 - dampening) * grad``,
    and Nesterov steps along ``grad + momentum * buffer``.
    """
    momentum = group["momentum"]
    c = 1.0
    if momentum != 0:
        c = 1.0 - group["dampening"] if has_buffer else 1.0
        if group["nesterov"]:
            c = 1.0 + momentum * c
    return -c if group.get("maximize", False) else c


def _require_one_sgd_step(optimizer: torch.optim.Optimizer, steps: int, what: str) -> None:
    if type(optimizer) is not torch.optim.SGD or steps != 1:
        raise UserError(
            f"{what} 'jvp' is exact for one look-ahead step of torch.optim.SGD only, but the "
            f"optimizer is {type(optimizer).__name__} and the look-ahead has {steps} step(s); "
            f"use {what} 'higher' (or 'auto', which picks it)."
        )


def jvp_meta_grad(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: Batch,
    logits: torch.Tensor,
    rng: RngState,
    meta_batch: Batch,
    train_loss: TrainLoss,
    meta_params: list[torch.Tensor],
    retain_graph: bool = False,
) -> tuple[list[torch.Tensor | None], float]:
    """The ``jvp`` meta-gradient (None where unused) and meta loss, from ``logits = model(x)``.

    ``logits`` keeps its graph to the parameters (a train-mode forward for BatchNorm); ``rng`` is
    ``rng_state(model)`` from just before that forward (its dropout masks are replayed);
    ``retain_graph`` keeps that graph for the caller's real backward. The optimizer must be a
    ``torch.optim.SGD``; the model, its buffers, the optimizer and the caller's RNG stay unchanged.
    """
    (x, y), (x_m, y_m) = batch, meta_batch
    named = dict(model.named_parameters())
    group_of = {id(p): group for group in optimizer.param_groups for p in group["params"]}
    trained = [n for n, p in named.items() if p.requires_grad and id(p) in group_of]
    # H(phi) on a detached leaf copy of U: a [B, C] graph from phi, nothing of the network.
    u = logits.detach().requires_grad_()
    with torch.enable_grad():
        h = torch.autograd.grad(train_loss(u, y), u, create_graph=True)[0]
    grads = torch.autograd.grad(
        logits,
        [named[n] for n in trained],
        h.detach(),
        retain_graph=retain_graph,
        allow_unused=True,
    )
    moved, new, scale = [], [], []
    with torch.no_grad():  # theta' itself needs no graph: phi enters through <H, J w> only
        for n, g in zip(trained, grads, strict=True):
            if g is None:  # torch.optim.SGD skips parameters without a gradient
                continue
            p, group = named[n], group_of[id(named[n])]
            buf = optimizer.state.get(p, {}).get("momentum_buffer")
            moved.append(n)
            new.append(_sgd_update(p.detach(), g, buf, group)[0].requires_grad_())
            scale.append(-group["lr"] * _sgd_gain(group, buf is not None))
    fast = {n: p.detach() for n, p in named.items()}
    buffers = dict(model.named_buffers())

    def call(params: dict[str, torch.Tensor], inputs: torch.Tensor) -> torch.Tensor:
        # Fresh buffer copies: train-mode BatchNorm updates running stats in place, which must
        # reach neither the real model nor a tensor captured by torch.func.jvp (that fails).
        bufs = {k: b.clone() for k, b in buffers.items()}
        return torch.func.functional_call(model, {**fast, **params, **bufs}, (inputs,))

    with torch.random.fork_rng(devices=_cuda_devices(model)):
        with torch.enable_grad():
            meta_loss = F.cross_entropy(call(dict(zip(moved, new, strict=True)), x_m), y_m)
        if not h.requires_grad:  # the train loss ignores phi: no meta-gradient at all
            return [None] * len(meta_params), meta_loss.item()
        v = torch.autograd.grad(meta_loss, new)
        # d theta'_p / d phi = -lr_p * c_p * J_p^T dH/dphi, so the chain is <dH/dphi, J w>.
        w = dict(zip(moved, torch._foreach_mul(list(v), scale), strict=True))
        _set_rng_state(model, rng)  # the same dropout masks as the forward that made ``logits``
        # Autocast breaks torch.func.jvp's dual tensors (conv gets a bf16 weight and a float32
        # input), so J w is one float32 forward even under ``train.amp``; a no-op otherwise.
        with torch.autocast(x.device.type, enabled=False):
            _, jw = torch.func.jvp(lambda ps: call(ps, x), ({n: fast[n] for n in moved},), (w,))
    meta_grads = torch.autograd.grad((h * jw).sum(), meta_params, allow_unused=True)
    return list(meta_grads), meta_loss.item()


def _jvp_backend(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: Batch,
    meta_batch: Batch,
    train_loss: TrainLoss,
    meta_params: list[torch.Tensor],
    steps: int,
) -> tuple[list[torch.Tensor | None], float]:
    """Forward-mode closed form (module docstring); one ``torch.optim.SGD`` step only."""
    _require_one_sgd_step(optimizer, steps, "meta backend")
    rng = rng_state(model)
    logits = model(batch[0])  # moves BN statistics: restored by lookahead_meta_grad
    return jvp_meta_grad(model, optimizer, batch, logits, rng, meta_batch, train_loss, meta_params)


BACKENDS: dict[str, Backend] = {
    "higher": _higher_backend,
    "torchfunc": _torchfunc_backend,
    "jvp": _jvp_backend,
}


def resolve_backend(
    requested: str, optimizer: torch.optim.Optimizer, steps: int = 1, what: str = "meta backend"
) -> str:
    """``requested``, checked; ``auto`` picks ``jvp`` where it is exact, else ``higher``.

    A ``TrainLoss`` sees theta only through the logits, so ``jvp`` is exact for any of them
    whenever the look-ahead is one ``torch.optim.SGD`` step. ``what`` names the setting in errors.
    """
    sgd = type(optimizer) is torch.optim.SGD
    if requested == "auto":
        return "jvp" if sgd and steps == 1 else "higher"
    if requested not in BACKENDS:
        raise UserError(
            f"unknown {what} '{requested}'. Known: auto, {', '.join(sorted(BACKENDS))}."
        )
    if requested == "jvp":
        _require_one_sgd_step(optimizer, steps, what)
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
    with torch.random.fork_rng(devices=_cuda_devices(model)):
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
        steps: virtual steps, each on ``batch`` (1 = METHOD.md's one-step look-ahead).

    Returns:
        The gradients (zeros where a parameter did not affect the meta loss) and the meta loss.
    """
    backend = resolve_backend(backend, optimizer, steps)
    with preserved_state(model):
        grads, value = BACKENDS[backend](
            model, optimizer, batch, meta_batch, train_loss, meta_params, steps
        )
    return _zeros_for_none(meta_params, grads), value


def _zeros_for_none(
    params: list[torch.Tensor], grads: list[torch.Tensor | None]
) -> list[torch.Tensor]:
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads, strict=True)]


class BilevelStep:
    """Meta-learns a perturbation module's parameters by one-step look-ahead.

    Args:
        module: the perturbation (its trainable parameters are phi).
        meta_optimizer: ``"adam"`` or ``"sgd"``.
        meta_lr: meta learning rate.
        phi_decay: after each meta step ``phi *= 1 - phi_decay`` (pull toward no perturbation).
        backend: a key of ``BACKENDS`` or ``"auto"`` (fixed by ``resolve``, else on each step).
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
        if backend != "auto" and backend not in BACKENDS:
            raise UserError(
                f"unknown meta backend '{backend}'. Known: auto, {', '.join(sorted(BACKENDS))}."
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
        self._apply(grads)
        return value

    def resolve(self, optimizer: torch.optim.Optimizer, what: str = "meta backend") -> str:
        """Fix the backend for this optimizer (``auto`` -> ``jvp`` or ``higher``); returns it."""
        self.backend = resolve_backend(self.backend, optimizer, self.steps, what=what)
        return self.backend

    def step_on_logits(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        batch: Batch,
        logits: torch.Tensor,
        rng: RngState,
        meta_batch: Batch,
        train_loss: TrainLoss,
    ) -> float:
        """``step`` with the ``jvp`` backend, re-using the caller's forward ``logits = model(x)``.

        The graph of ``logits`` is kept for the caller's real backward; ``rng`` is
        ``rng_state(model)`` from just before that forward.
        """
        _require_one_sgd_step(optimizer, self.steps, "meta backend")
        grads, value = jvp_meta_grad(
            model, optimizer, batch, logits, rng, meta_batch, train_loss, self.params, True
        )
        self._apply(_zeros_for_none(self.params, grads))
        return value

    def _apply(self, grads: list[torch.Tensor]) -> None:
        for p, g in zip(self.params, grads, strict=True):
            p.grad = g.detach()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.phi_decay:
            with torch.no_grad():
                for p in self.params:
                    p.mul_(1 - self.phi_decay)
