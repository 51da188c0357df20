"""Shared checks for model builders: turn shape and setting mistakes into UserErrors."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lpg_meta.errors import UserError


class NormedLinear(nn.Module):
    """LDAM-DRW's cosine classifier: ``u_c = <x / |x|, w_c / |w_c|>``, no bias, values in [-1, 1].

    The scale s is the loss's (``ldam``'s ``s``), as in kaidic/LDAM-DRW. Initialisation as
    there: uniform(-1, 1) columns renormalised to unit length.
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        weight = torch.empty(in_features, out_features).uniform_(-1, 1)
        self.weight = nn.Parameter(weight / weight.norm(dim=0, keepdim=True).clamp_min(1e-12))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=1) @ F.normalize(self.weight, dim=0)


def make_head(name: str, head: str, in_features: int, num_classes: int) -> nn.Module:
    """The classifier of model ``name``: a plain ``nn.Linear`` or the cosine ``NormedLinear``."""
    if head == "cosine":
        return NormedLinear(in_features, num_classes)
    return nn.Linear(in_features, num_classes)


def image_shape(name: str, input_shape: tuple[int, ...]) -> tuple[int, int, int]:
    """Return ``(channels, height, width)`` or raise a UserError naming the model."""
    if len(input_shape) != 3 or min(input_shape) < 1:
        raise UserError(
            f"model '{name}' needs image inputs of shape (channels, height, width), "
            f"got {tuple(input_shape)}."
        )
    c, h, w = (int(s) for s in input_shape)
    return c, h, w
