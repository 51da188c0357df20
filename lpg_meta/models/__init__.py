"""Model zoo: every module here registers its architectures in ``MODELS``.

Entries are ``nn.Module`` classes with a ``defaults`` dict and a constructor
``(num_classes, input_shape, **settings)``; adding a model is one new file.
"""

from __future__ import annotations

from typing import Any

import torch

from lpg_meta.errors import UserError
from lpg_meta.params import resolve_params
from lpg_meta.registry import MODELS
from lpg_meta.registry_import import import_submodules

import_submodules(__name__, __path__)

__all__ = ["MODELS", "build_model", "count_parameters", "model_defaults", "model_names"]


def model_defaults(name: str) -> dict[str, Any]:
    """The declared settings of model ``name`` with their default values (a copy)."""
    return dict(MODELS.get(name).defaults)


def build_model(
    name: str, num_classes: int, input_shape: tuple[int, ...], params: dict[str, Any]
) -> torch.nn.Module:
    """Instantiate model ``name`` for ``num_classes`` outputs and inputs of ``input_shape``.

    Args:
        name: a registered model name.
        num_classes: the number of output logits.
        input_shape: the shape of one sample, without the batch dimension.
        params: user settings, validated against the model's defaults (``model.*``).
    """
    entry = MODELS.get(name)
    resolved = resolve_params(entry.defaults, params, "model")
    if num_classes < 1:
        raise UserError(f"model '{name}' needs at least one class, got {num_classes}.")
    return entry(int(num_classes), tuple(int(s) for s in input_shape), **resolved)


def count_parameters(model: torch.nn.Module) -> int:
    """Number of trainable scalars in ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def model_names() -> list[str]:
    """Registered model names."""
    return MODELS.names()
