"""Model zoo: every module here registers its architectures in ``MODELS``.

Entries are ``nn.Module`` classes with a constructor ``(num_classes, input_shape, **settings)``,
declared in ``lpg_meta/catalog/models.py`` (their settings, read without torch) and imported
when a model is built.
"""

from __future__ import annotations

import torch

from lpg_meta import catalog
from lpg_meta.errors import UserError
from lpg_meta.params import resolve_params
from lpg_meta.registry import MODELS

__all__ = ["MODELS", "build_model", "count_parameters"]


def build_model(
    name: str, num_classes: int, input_shape: tuple[int, ...], params: dict[str, object]
) -> torch.nn.Module:
    """Instantiate model ``name`` for ``num_classes`` outputs and inputs of ``input_shape``.

    Args:
        name: a registered model name.
        num_classes: the number of output logits.
        input_shape: the shape of one sample, without the batch dimension.
        params: user settings, checked against the model's declared settings (``model.*``).
    """
    entry = MODELS.get(name)
    resolved = resolve_params(catalog.model(name).params, params, "model")
    if num_classes < 1:
        raise UserError(f"model '{name}' needs at least one class, got {num_classes}.")
    return entry(int(num_classes), tuple(int(s) for s in input_shape), **resolved)


def count_parameters(model: torch.nn.Module) -> int:
    """Number of trainable scalars in ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
