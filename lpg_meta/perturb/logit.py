"""Logit-level gradient perturbation: identity forward, perturbed backward."""

from __future__ import annotations

from collections.abc import Callable

import torch

GradTransform = Callable[[torch.Tensor], torch.Tensor]


class _PerturbLogitGrad(torch.autograd.Function):
    # The backward is built from ordinary differentiable ops, so under create_graph=True the
    # perturbed gradient keeps its graph to the perturbation's parameters (needed by meta steps).
    @staticmethod
    def forward(ctx, logits: torch.Tensor, transform: GradTransform) -> torch.Tensor:
        ctx.transform = transform
        return logits.clone()

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return ctx.transform(grad), None


def perturb_logit_grad(logits: torch.Tensor, per_sample_transform: GradTransform) -> torch.Tensor:
    """Return ``logits`` unchanged, but with their incoming gradient perturbed on the way back.

    The gradient reaching the logits is that of the batch-mean loss, ``g_i / B``.
    ``per_sample_transform`` receives the per-sample logit gradients ``g`` (shape ``[B, C]``)
    and returns the perturbed ones; the result is divided by ``B`` again.

    Args:
        logits: model outputs ``[B, C]``.
        per_sample_transform: maps per-sample logit gradients to perturbed ones.
    """
    batch = logits.shape[0]

    def transform(grad: torch.Tensor) -> torch.Tensor:
        # Add only the change, so that an identity transform returns ``grad`` bit for bit
        # (``(grad * B) / B`` is not exact unless B is a power of two).
        per_sample = grad * batch
        return grad + (per_sample_transform(per_sample) - per_sample) / batch

    return _PerturbLogitGrad.apply(logits, transform)
