"""Batch-level augmentation and normalisation, vectorised so that no DataLoader is needed."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

AUGMENT_KINDS = (None, "crop_flip")
CROP_PAD = 4


def augment_batch(
    x: torch.Tensor, kind: str | None, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Randomly augment a batch of images ``(N, C, H, W)`` held in ``[0, 1]``.

    ``crop_flip`` is the LDAM-DRW / MW-Net CIFAR recipe: zero-pad 4 pixels, take a random
    ``H x W`` crop, flip horizontally with probability 1/2. Zero padding happens before
    normalisation, like torchvision's ``RandomCrop(32, padding=4)`` on the PIL image.

    Args:
        x: the batch; returned unchanged when ``kind`` is None.
        kind: None or ``"crop_flip"``.
        generator: source of randomness (its device may differ from ``x``'s).
    """
    if kind is None:
        return x
    if kind != "crop_flip":
        raise ValueError(f"unknown augmentation {kind!r}; known: {AUGMENT_KINDS}")
    if x.dim() != 4:
        raise ValueError(f"crop_flip needs (N, C, H, W) images, got shape {tuple(x.shape)}")
    n, _, h, w = x.shape
    # Draw on the generator's device, then move: torch refuses a CPU generator for CUDA draws.
    gen_device = generator.device if generator is not None else torch.device("cpu")
    offsets = torch.randint(0, 2 * CROP_PAD + 1, (2, n), generator=generator, device=gen_device)
    flips = torch.rand(n, generator=generator, device=gen_device) < 0.5
    offsets, flips = offsets.to(x.device), flips.to(x.device)

    padded = F.pad(x, (CROP_PAD, CROP_PAD, CROP_PAD, CROP_PAD))
    rows = offsets[0][:, None] + torch.arange(h, device=x.device)  # (N, H)
    cols = offsets[1][:, None] + torch.arange(w, device=x.device)  # (N, W)
    # A flipped crop reads its columns right to left, so crop and flip are one gather.
    cols = torch.where(flips[:, None], cols.flip(1), cols)
    batch = torch.arange(n, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (N, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()


def normalize_batch(x: torch.Tensor, bundle: Any) -> torch.Tensor:
    """Apply the bundle's per-channel ``mean`` / ``std`` (channel axis 1); identity if unset."""
    if bundle.mean is None or bundle.std is None:
        return x
    shape = (1, len(bundle.mean)) + (1,) * (x.dim() - 2)
    mean = torch.tensor(bundle.mean, dtype=x.dtype, device=x.device).view(shape)
    std = torch.tensor(bundle.std, dtype=x.dtype, device=x.device).view(shape)
    return (x - mean) / std
