"""Shared checks for model builders: turn shape and setting mistakes into UserErrors."""

from __future__ import annotations

from lpg_meta.errors import UserError


def image_shape(name: str, input_shape: tuple[int, ...]) -> tuple[int, int, int]:
    """Return ``(channels, height, width)`` or raise a UserError naming the model."""
    if len(input_shape) != 3 or min(input_shape) < 1:
        raise UserError(
            f"model '{name}' needs image inputs of shape (channels, height, width), "
            f"got {tuple(input_shape)}."
        )
    c, h, w = (int(s) for s in input_shape)
    return c, h, w


def at_least(name: str, key: str, value: int | float, low: int | float) -> None:
    """Raise a UserError unless ``value >= low``."""
    if value < low:
        raise UserError(f"model.{key} of '{name}' must be at least {low}, got {value}.")
