"""Parameter-level gradient perturbations (docs/method.md §2): clipping, annealed noise, SAM.

Pure functions on the ``.grad`` of a model's parameters, called between ``backward`` and the
optimizer step. Parameters whose ``.grad`` is ``None`` are skipped everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch
from torch.nn.modules.batchnorm import _NormBase

Params = Iterable[torch.Tensor] | torch.Tensor

CLIP_EPS = 1e-6  # as torch.nn.utils.clip_grad_norm_
SAM_EPS = 1e-12  # as the reference SAM implementation (davda54/sam)


def _with_grad(params: Params) -> list[torch.Tensor]:
    if isinstance(params, torch.Tensor):
        params = [params]
    return [p for p in params if p.grad is not None]


def _global_grad_norm(params: list[torch.Tensor]) -> torch.Tensor:
    """L2 norm of all gradients viewed as one vector (on the device of the first parameter)."""
    device = params[0].device
    norms = [torch.linalg.vector_norm(p.grad, 2).to(device) for p in params]
    return torch.linalg.vector_norm(torch.stack(norms), 2)


@torch.no_grad()
def clip_grad_norm(params: Params, max_norm: float) -> torch.Tensor:
    """Scale all gradients in place by ``min(1, max_norm / (||G|| + 1e-6))``.

    Same arithmetic as ``torch.nn.utils.clip_grad_norm_`` with the L2 norm: the per-tensor
    norms are stacked and normed again, and every gradient is multiplied by the clamped factor
    (also when it is 1). Returns the total norm before clipping (0 when no gradient exists).
    """
    params = _with_grad(params)
    if not params:
        return torch.tensor(0.0)
    total_norm = _global_grad_norm(params)
    coef = torch.clamp(float(max_norm) / (total_norm + CLIP_EPS), max=1.0)
    for p in params:
        p.grad.mul_(coef.to(p.grad.device))
    return total_norm


def noise_std(step: int, eta: float, gamma: float = 0.55) -> float:
    """Standard deviation of the annealed gradient noise: ``sqrt(eta / (1 + t)^gamma)``."""
    return math.sqrt(eta / (1.0 + step) ** gamma)


@torch.no_grad()
def add_gradient_noise(
    params: Params,
    step: int,
    eta: float,
    gamma: float = 0.55,
    generator: torch.Generator | None = None,
) -> float:
    """Add ``N(0, sigma_t^2 I)`` to every gradient in place, ``sigma_t^2 = eta / (1 + t)^gamma``.

    Neelakantan et al. 2015, "Adding gradient noise improves learning for very deep networks".
    The noise is drawn parameter by parameter, in the order given, as
    ``torch.randn(shape, generator=generator, device=generator.device)`` and moved to the
    gradient's device, so a generator on any device can serve parameters on any device
    (the draws depend on the generator's device type: CPU and CUDA streams differ).
    Returns sigma_t.
    """
    sigma = noise_std(step, eta, gamma)
    for p in _with_grad(params):
        device = generator.device if generator is not None else p.grad.device
        noise = torch.randn(p.grad.shape, generator=generator, device=device, dtype=p.grad.dtype)
        p.grad.add_(noise.to(p.grad.device), alpha=sigma)
    return sigma


class SamOffsets(list):
    """The ascent offsets ``e_w`` of a SAM step, one per parameter (``None`` where no gradient).

    Also keeps copies of the unperturbed parameters, so that :func:`sam_restore` puts back the
    exact original values (``(theta + e) - e`` is not always ``theta`` in floating point).
    """

    def __init__(self, offsets: list[torch.Tensor | None], originals: list[torch.Tensor | None]):
        super().__init__(offsets)
        self.originals = originals


@torch.no_grad()
def sam_perturb(params: Params, rho: float) -> SamOffsets:
    """Move parameters to the SAM ascent point ``theta + rho * G / (||G|| + 1e-12)`` in place.

    ``||G||`` is the global L2 norm over all gradients (Foret et al. 2021; arithmetic as in
    davda54/sam ``first_step``). Returns the offsets ``e_w``, aligned with ``params``.
    """
    params = [params] if isinstance(params, torch.Tensor) else list(params)
    with_grad = _with_grad(params)
    if not with_grad:
        return SamOffsets([None] * len(params), [None] * len(params))
    scale = rho / (_global_grad_norm(with_grad) + SAM_EPS)
    offsets: list[torch.Tensor | None] = []
    originals: list[torch.Tensor | None] = []
    for p in params:
        if p.grad is None:
            offsets.append(None)
            originals.append(None)
            continue
        originals.append(p.detach().clone())
        e_w = p.grad * scale.to(p)
        p.add_(e_w)
        offsets.append(e_w)
    return SamOffsets(offsets, originals)


@torch.no_grad()
def sam_restore(params: Params, e_ws: list[torch.Tensor | None]) -> None:
    """Undo :func:`sam_perturb`: back to the exact original parameters (``theta - e_w`` if only offsets are known)."""
    params = [params] if isinstance(params, torch.Tensor) else list(params)
    if len(params) != len(e_ws):
        raise ValueError(f"sam_restore got {len(params)} parameters and {len(e_ws)} offsets")
    originals = getattr(e_ws, "originals", None)
    for i, (p, e_w) in enumerate(zip(params, e_ws, strict=True)):
        if e_w is None:
            continue
        if originals is not None:
            p.copy_(originals[i])
        else:
            p.sub_(e_w)


@contextmanager
def bn_running_stats_frozen(model: torch.nn.Module) -> Iterator[None]:
    """Leave the running statistics of all BatchNorm (and tracking InstanceNorm) layers unchanged.

    The buffers (``running_mean``, ``running_var``, ``num_batches_tracked``) are saved on entry
    and copied back on exit, so forwards inside the block normalise with batch statistics as
    usual but leave no trace: SAM's second pass then updates nothing (docs/method.md §2: batch-norm statistics
    move on the first pass only). Unlike setting ``momentum = 0`` this also keeps
    ``num_batches_tracked`` and works with ``momentum=None`` (cumulative averages).
    """
    saved: list[tuple[torch.Tensor, torch.Tensor]] = []
    for module in model.modules():
        if isinstance(module, _NormBase) and module.track_running_stats:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                buf = getattr(module, name, None)
                if buf is not None:
                    saved.append((buf, buf.detach().clone()))
    try:
        yield
    finally:
        with torch.no_grad():
            for buf, copy in saved:
                buf.copy_(copy)
