"""The ``jvp`` backend: the exact meta-gradient of one ``torch.optim.SGD`` look-ahead step.

With ``U = f_theta(x)`` the batch logits and ``H(phi) = dL_train(U; phi) / dU``, the virtual step
is ``theta' = theta - lr * c * J^T H(phi) + (terms free of phi)``, so ``d meta_loss / d phi =
d/dphi <H(phi), J w>`` with ``w = -lr * c * v``, ``v`` the gradient of the meta loss at
``theta'`` and ``J w`` one forward-mode JVP of the logits. No second-order backward through the
network and no graph of the virtual step; written once for every train loss that sees theta
only through the logits (all LPG forms, l2rw, mwnet, gdw).

The ``fd`` backend is the same with ``J w`` estimated by a central difference of two plain
forwards, ``(f(theta + eps w) - f(theta - eps w)) / (2 eps)`` (``fd_directional``): no
forward-mode pass, at the price of a truncation error (O(eps) where ReLU kinks are crossed,
O(eps^2) elsewhere: ``fd_step_size``) and an O(u / eps) rounding error.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable

import torch
import torch.autograd.forward_ad as fwAD
import torch.nn.functional as F
from torch import nn

from lpg_meta.errors import UserError
from lpg_meta.lpg.unroll import Backend, Batch, TrainLoss, sgd_update, zeros_for_none

RngState = tuple[torch.Tensor, list[torch.Tensor]]


@functools.cache
def _load_forward_ad_decompositions() -> None:
    """Import torch's forward-AD decompositions once, without the warning torch raises there.

    ``fwAD.make_dual`` imports ``torch._decomp.decompositions_for_jvp``, which registers them with
    ``torch.jit.script``, which torch 2.14 deprecates: a FutureWarning about torch's own code on
    every lpg run that no user can act on. Imported here first with that one message filtered,
    ``make_dual``'s import is then a no-op; every other warning is still shown.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning)
        try:
            import torch._decomp.decompositions_for_jvp  # noqa: F401
        except ImportError:  # moved in a later torch: make_dual loads what it needs itself
            pass


def cuda_devices(model: nn.Module) -> list[int]:
    """The indices of the GPUs that hold the model's parameters (for their RNG states)."""
    return sorted({t.device.index or 0 for t in model.parameters() if t.is_cuda})


def rng_state(model: nn.Module) -> RngState:
    """The global RNG state (CPU and the model's GPUs): lets a later forward replay dropout masks."""
    return torch.get_rng_state(), [torch.cuda.get_rng_state(d) for d in cuda_devices(model)]


def _set_rng_state(model: nn.Module, state: RngState) -> None:
    torch.set_rng_state(state[0])
    for device, cuda_state in zip(cuda_devices(model), state[1], strict=True):
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


def require_one_sgd_step(
    optimizer: torch.optim.Optimizer, steps: int, what: str, backend: str = "jvp"
) -> None:
    """Raise a UserError naming ``what`` unless the look-ahead is one ``torch.optim.SGD`` step."""
    if type(optimizer) is not torch.optim.SGD or steps != 1:
        raise UserError(
            f"{what} '{backend}' is for one look-ahead step of torch.optim.SGD only, but the "
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
    estimate: str = "jvp",
) -> tuple[list[torch.Tensor], float]:
    """The ``jvp`` meta-gradient (zeros where unused) and meta loss, from ``logits = model(x)``.

    ``logits`` keeps its graph to the parameters (a train-mode forward for BatchNorm); ``rng`` is
    ``rng_state(model)`` from just before that forward (its dropout masks are replayed);
    ``retain_graph`` keeps that graph for the caller's real backward. The optimizer must be a
    ``torch.optim.SGD``; the model, its buffers, the optimizer and the caller's RNG stay unchanged.
    ``estimate`` is how ``J w`` is had: ``"jvp"`` (exact, forward mode) or ``"fd"``
    (``fd_directional``).
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
            new.append(sgd_update(p.detach(), g, buf, group)[0].requires_grad_())
            scale.append(-group["lr"] * _sgd_gain(group, buf is not None))
    fast = {n: p.detach() for n, p in named.items()}
    buffers = dict(model.named_buffers())

    def call(params: dict[str, torch.Tensor], inputs: torch.Tensor) -> torch.Tensor:
        # Fresh buffer copies: train-mode BatchNorm updates running stats in place, which must
        # reach neither the real model nor a tensor that a later forward reads.
        bufs = {k: b.clone() for k, b in buffers.items()}
        return torch.func.functional_call(model, {**fast, **params, **bufs}, (inputs,))

    with torch.random.fork_rng(devices=cuda_devices(model)):
        with torch.enable_grad():
            meta_loss = F.cross_entropy(call(dict(zip(moved, new, strict=True)), x_m), y_m)
        if not h.requires_grad:  # the train loss ignores phi: no meta-gradient at all
            return zeros_for_none(meta_params, [None] * len(meta_params)), meta_loss.item()
        v = torch.autograd.grad(meta_loss, new)
        # d theta'_p / d phi = -lr_p * c_p * J_p^T dH/dphi, so the chain is <dH/dphi, J w>.
        w = dict(zip(moved, torch._foreach_mul(list(v), scale), strict=True))
        if estimate == "fd":
            jw = fd_directional(lambda params: call(params, x), fast, w, model, rng)
        else:
            _set_rng_state(model, rng)  # the same dropout masks as the forward of ``logits``
            # Autocast breaks dual tensors (conv gets a bf16 weight and a float32 input), so J w
            # is one float32 forward even under ``train.amp``; a no-op otherwise. Dual tensors
            # under no_grad, not torch.func.jvp: the same forward-mode rules without its
            # functorch layer and without an autograd graph of the primal (about 10% less time
            # on resnet32).
            _load_forward_ad_decompositions()
            with torch.autocast(x.device.type, enabled=False), torch.no_grad(), fwAD.dual_level():
                duals = {n: fwAD.make_dual(fast[n], w[n]) for n in moved}
                jw = fwAD.unpack_dual(call(duals, x)).tangent
    if jw is None:  # no moved parameter reaches the logits
        return zeros_for_none(meta_params, [None] * len(meta_params)), meta_loss.item()
    meta_grads = torch.autograd.grad((h * jw).sum(), meta_params, allow_unused=True)
    return zeros_for_none(meta_params, list(meta_grads)), meta_loss.item()


def fd_step_size(theta: list[torch.Tensor], direction: list[torch.Tensor]) -> float:
    """``eps`` of the central difference along ``direction``: ``sqrt(u) ||theta|| / ||direction||``.

    ``u`` is the dtype's machine epsilon; the parameters' own scale ``||theta||`` is the length
    over which the logits change, so ``eps`` moves theta by a relative ``delta = sqrt(u)``. The
    suite's networks are piecewise linear (ReLU, max-pooling) with BatchNorm: a central
    difference is exact on each linear piece up to BatchNorm's smooth O(delta^2) term, and errs
    where a ReLU input changes sign between ``theta - eps w`` and ``theta + eps w``, in a
    fraction of units that grows like ``delta``; so the error is about ``a delta + b u / delta``
    (kinks, and rounding in the two forwards, divided by ``2 eps``), smallest near ``delta =
    sqrt(u)`` (3.5e-4 in float32, 1.5e-8 in float64), where both terms are of order ``sqrt(u)``.
    Measured on cnn1d (MNIST-1D) and cnn2d (digits), LPG's matrix form, float32: relative error
    of the meta-gradient to ``jvp`` 0.2-0.8% at single states (1-3% at 10x this eps); over the
    620 meta steps of an ``mnist1d_lt`` and a ``digits_sym`` run, median 0.8%, at most 10%,
    cosine at least 0.9968 (results/bench/fd_error.json). In float64, below 1e-8.
    A ``theta`` of norm 0 counts as norm 1; a zero ``direction`` gives 0.
    """
    u = torch.finfo(theta[0].dtype).eps
    theta_norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(theta))).item()
    norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(direction))).item()
    return u ** 0.5 * (theta_norm or 1.0) / norm if norm > 0 else 0.0


def fd_directional(
    forward: Callable[[dict[str, torch.Tensor]], torch.Tensor],
    theta: dict[str, torch.Tensor],
    direction: dict[str, torch.Tensor],
    model: nn.Module,
    rng: RngState,
) -> torch.Tensor:
    """``J w`` of ``forward`` at ``theta`` along ``direction``, by two forwards and no autograd.

    ``forward(params)`` gives the logits with ``params`` in place of those named parameters; it
    must run in the mode of the exact path (train mode: BatchNorm on the batch's statistics,
    as the forward-mode pass differentiates them) and leave the model's buffers alone
    (``jvp_meta_grad``'s ``call`` takes buffer copies). Both forwards replay ``rng`` (the same
    dropout masks) and run in the parameters' dtype without autocast: bf16's rounding (``u`` =
    2^-8) would need an ``eps`` too large for the truncation error.
    """
    names = list(direction)
    start = [theta[n] for n in names]
    step = [direction[n] for n in names]
    eps = fd_step_size(start, step)
    logits = []
    with torch.autocast(start[0].device.type, enabled=False), torch.no_grad():
        for sign in (1.0, -1.0):
            _set_rng_state(model, rng)
            moved = torch._foreach_add(start, step, alpha=sign * eps)
            logits.append(forward(dict(zip(names, moved, strict=True))))
    if eps == 0.0:  # a zero direction: J w = 0
        return torch.zeros_like(logits[0])
    return (logits[0] - logits[1]) / (2 * eps)


def jvp_backend(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: Batch,
    meta_batch: Batch,
    train_loss: TrainLoss,
    meta_params: list[torch.Tensor],
    steps: int,
    estimate: str = "jvp",
) -> tuple[list[torch.Tensor | None], float]:
    """Forward-mode closed form (module docstring); one ``torch.optim.SGD`` step only."""
    require_one_sgd_step(optimizer, steps, "meta backend", estimate)
    rng = rng_state(model)
    logits = model(batch[0])  # moves BN statistics: restored by lookahead_meta_grad
    grads, value = jvp_meta_grad(
        model, optimizer, batch, logits, rng, meta_batch, train_loss, meta_params,
        estimate=estimate,
    )
    out: list[torch.Tensor | None] = list(grads)
    return out, value


fd_backend: Backend = functools.partial(jvp_backend, estimate="fd")
fd_backend.__doc__ = "``jvp_backend`` with ``J w`` from a central difference (``fd_directional``)."
