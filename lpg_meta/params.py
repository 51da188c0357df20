"""Declared parameters: each setting of a method, data source, model or run section, as data.

A ``Param`` holds a setting's default (its type is the default's), its valid range or choices,
its default search space and whether it is part of a run's identity. ``resolve_params`` merges
user values over the declared defaults and checks every value against its declaration, the one
check, wherever a config is read: a suite's rows on load, ``--set``, a cell, a built method.
No torch here: the command line and the suite loader read declarations without the training stack.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lpg_meta.errors import UserError, closest

# Whether a setting is part of a run's identity (``results.config_hash``):
#   "always":   in every resolved config and its hash.
#   "when_set": left out of a resolved config while at its default, so configs recorded before
#               the setting existed keep their form and hash; hashed once set.
#   "never":    says how a run is watched or kept, not what it computes (a resumed run equals an
#               uninterrupted one); left out of a config at its default and never hashed.
IDENTITIES = ("always", "when_set", "never")


@dataclass(frozen=True)
class Param:
    """One declared setting.

    ``low`` / ``high`` bound a number (``low_open`` / ``high_open``: the bound itself is
    excluded); ``choices`` lists the allowed values; ``space`` is the default search space
    (``bench.space`` convention) or None when not tuned by default; ``note`` says why the range
    is what it is (shown in errors and ``lpg-meta show``).
    """

    default: Any
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[Any, ...] | None = None
    space: tuple | None = None
    identity: str = "always"
    note: str = ""
    help: str = ""

    def __post_init__(self) -> None:
        if self.identity not in IDENTITIES:
            raise ValueError(f"identity must be one of {IDENTITIES}, got {self.identity!r}")

    @property
    def bounded(self) -> bool:
        """Whether a value can be out of range (a numeric bound or a list of choices)."""
        return self.low is not None or self.high is not None or self.choices is not None

    def range_text(self) -> str:
        """The valid values in words: ``[0, 1)``, ``>= 1``, ``one of adam, sgd``; empty if any."""
        if self.choices is not None:
            return "one of " + ", ".join(_shown(c) for c in self.choices)
        if self.low is not None and self.high is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"{left}{_shown(self.low)}, {_shown(self.high)}{right}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {_shown(self.low)}"
        if self.high is not None:
            return f"{'<' if self.high_open else '<='} {_shown(self.high)}"
        return ""

    def admits(self, value: Any) -> bool:
        """Whether ``value`` (of the right type) lies in the declared range (None always does)."""
        if value is None:
            return True
        if self.choices is not None:
            return any(value == c and type(value) is type(c) for c in self.choices)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return True  # a string or list setting without choices: no range
        if math.isnan(value):
            return not self.bounded
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return not (self.high is not None and (value > self.high or (self.high_open and value == self.high)))

    def check(self, value: Any, path: str) -> None:
        """Raise a one-line ``UserError`` naming ``path`` and the valid range unless ``admits(value)``."""
        if not self.admits(value):
            why = f" ({self.note})" if self.note else ""
            hint = closest(value, [str(c) for c in self.choices]) if self.choices and isinstance(value, str) else ""
            raise UserError(f"{path} must be {self.range_text()}{why}, got {value!r}.{hint}")


def _shown(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def as_param(value: Any) -> Param:
    """``value`` if it is a ``Param``, else an unbounded one with ``value`` as its default."""
    return value if isinstance(value, Param) else Param(value)


def defaults_of(params: Mapping[str, Any]) -> dict[str, Any]:
    """Setting -> default value of a table of ``Param`` (or of plain defaults); a copy the caller may change."""
    return {k: copy.deepcopy(as_param(p).default) for k, p in params.items()}


def space_of(params: Mapping[str, Param]) -> dict[str, tuple]:
    """The default search space of a table of ``Param``: the settings that declare one."""
    return {k: p.space for k, p in params.items() if isinstance(p, Param) and p.space is not None}


def omitted_at_default(params: Mapping[str, Any]) -> dict[str, Any]:
    """Setting -> default of the settings left out of a resolved config while at their default."""
    return {k: p.default for k, p in params.items() if isinstance(p, Param) and p.identity != "always"}


def drop_omitted(section: dict[str, Any], params: Mapping[str, Any]) -> None:
    """Leave out of ``section`` the settings whose identity is not ``always`` while at their default."""
    for key, default in omitted_at_default(params).items():
        if key in section and section[key] == default and type(section[key]) is type(default):
            del section[key]


def not_identity(params: Mapping[str, Any]) -> tuple[str, ...]:
    """The settings of a table that are never part of a run's identity."""
    return tuple(k for k, p in params.items() if isinstance(p, Param) and p.identity == "never")


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


def resolve_params(params: Mapping[str, Any], given: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Merge ``given`` over the declared defaults, rejecting unknown keys, wrong types and out-of-range values.

    Args:
        params: the declared settings, ``Param`` or plain default values (types are the defaults').
        given: user-supplied overrides.
        where: the key path shown in error messages, e.g. ``method``.
    """
    out = defaults_of(params)
    for key, value in given.items():
        if key not in params:
            known = ", ".join(sorted(params)) or "none"
            raise UserError(f"unknown setting {where}.{key}.{closest(key, params)} Known: {known}.")
        out[key] = _coerce(key, value, out[key], where)
        as_param(params[key]).check(out[key], f"{where}.{key}")
    return out
