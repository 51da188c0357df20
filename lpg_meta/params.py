"""Typed parameter dictionaries: each registered entry declares its defaults once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lpg_meta.errors import UserError, closest


def _coerce(key: str, value: Any, default: Any, where: str) -> Any:
    if default is None or value is None:
        return value
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        raise UserError(f"{where}.{key} must be true or false, got {value!r}.")
    if isinstance(default, int) and not isinstance(value, bool):
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise UserError(f"{where}.{key} must be an integer, got {value!r}.")
    if isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise UserError(f"{where}.{key} must be a number, got {value!r}.")
    if isinstance(default, str):
        if isinstance(value, str):
            return value
        raise UserError(f"{where}.{key} must be a string, got {value!r}.")
    if isinstance(default, (list, tuple)):
        if isinstance(value, (list, tuple)):
            return list(value)
        raise UserError(f"{where}.{key} must be a list, got {value!r}.")
    if isinstance(default, dict):
        if isinstance(value, dict):
            return dict(value)
        raise UserError(f"{where}.{key} must be a mapping, got {value!r}.")
    return value


def resolve_params(defaults: Mapping[str, Any], given: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Merge ``given`` over ``defaults``, rejecting unknown keys and values of the wrong type.

    Args:
        defaults: the declared parameters and their default values (types are taken from them).
        given: user-supplied overrides.
        where: the key path shown in error messages, e.g. ``method``.
    """
    out = dict(defaults)
    for key, value in given.items():
        if key not in defaults:
            known = ", ".join(sorted(defaults)) or "none"
            raise UserError(f"unknown setting {where}.{key}.{closest(key, defaults)} Known: {known}.")
        out[key] = _coerce(key, value, defaults[key], where)
    return out
