"""Search spaces, one convention repo-wide (a method's ``search_space``, a suite's ``tune``).

A space maps a name to ``("log", low, high)``, ``("float", low, high)``, ``("int", low, high)``
or ``("categorical", [choices])``; YAML writes the same as lists, ``eps: [float, 0.0, 0.9]``.
Names are method settings, or ``optim.NAME`` for an optimiser setting.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from lpg_meta.config import OPTIM_PARAMS
from lpg_meta.errors import UserError, closest
from lpg_meta.params import Param, as_param

KINDS = ("log", "float", "int", "categorical")


def parse_space(space: dict[str, Any], where: str, params: Mapping[str, Param]) -> dict[str, tuple]:
    """Validate a search space: name -> [log|float|int, low, high] or [categorical, [choices]].

    Names are method settings (``params``: the method's declared settings), or ``optim.NAME`` for
    an optimiser setting; every value the space can draw must lie in the setting's declared range.
    """
    out = {}
    for key, dim in space.items():
        path = f"{where}.{key}"
        if not isinstance(key, str):
            raise UserError(f"{path}: a search-space name must be a string.")
        section, dot, sub = key.partition(".")
        if dot:
            if section != "optim" or sub not in OPTIM_PARAMS:
                raise UserError(f"{path}: only method settings and optim.NAME can be tuned."
                                f"{closest(key, [f'optim.{k}' for k in OPTIM_PARAMS])}")
            param = OPTIM_PARAMS[sub]
        elif key not in params:
            raise UserError(f"{path}: not a setting of this method.{closest(key, params)} "
                            f"Known: {', '.join(sorted(params)) or 'none'}.")
        else:
            param = as_param(params[key])
        out[key] = _dimension(dim, path, param.default)
        _inside(out[key], path, param)
    return out


def _inside(dim: tuple, path: str, param: Param) -> None:
    """Raise unless every value ``dim`` can draw lies in ``param``'s declared range."""
    ends = dim[1] if dim[0] == "categorical" else [dim[1], dim[2]]
    outside = [v for v in ends if not param.admits(v)]
    if outside:
        shown = f"[categorical, {dim[1]}]" if dim[0] == "categorical" else f"[{dim[0]}, {dim[1]}, {dim[2]}]"
        why = f" ({param.note})" if param.note else ""
        raise UserError(f"{path}: {shown} reaches {outside[0]!r}, outside the valid range {param.range_text()}{why}; "
                        "keep the search space inside it.")


def _dimension(dim: Any, path: str, default: Any) -> tuple:
    usage = "write [log|float|int, low, high] or [categorical, [choice, ...]]"
    if not isinstance(dim, (list, tuple)) or not dim:
        raise UserError(f"{path}: {usage}, got {dim!r}.")
    kind = dim[0]
    if kind not in KINDS:
        raise UserError(f"{path}: unknown kind {kind!r}.{closest(str(kind), KINDS)} {usage}.")
    if kind == "categorical":
        choices = dim[1] if len(dim) == 2 else None
        if not isinstance(choices, (list, tuple)) or not choices or len(set(map(repr, choices))) < len(choices):
            raise UserError(f"{path}: [categorical, [choice, ...]] needs a non-empty list of distinct choices.")
        if any(not isinstance(c, (bool, int, float, str)) for c in choices):
            raise UserError(f"{path}: categorical choices must be numbers, strings or booleans.")
        return ("categorical", list(choices))
    if len(dim) != 3 or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in dim[1:]):
        raise UserError(f"{path}: [{kind}, low, high] needs two numbers, got {list(dim)!r}.")
    low, high = dim[1], dim[2]
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise UserError(f"{path}: low must be below high, got [{kind}, {low}, {high}].")
    if kind == "log" and low <= 0:
        raise UserError(f"{path}: a log range needs low > 0, got {low}; use [float, {low}, {high}].")
    if kind == "int" and not (isinstance(low, int) and isinstance(high, int)):
        raise UserError(f"{path}: [int, low, high] needs integer bounds, got [{low}, {high}].")
    if isinstance(default, bool) or isinstance(default, str):
        raise UserError(f"{path}: this setting is a {type(default).__name__}; use [categorical, [...]].")
    if isinstance(default, int) and kind != "int":
        raise UserError(f"{path}: this setting is an integer; use [int, {int(low)}, {int(high)}].")
    return (kind, low, high)


def check_in_space(value: Any, dim: tuple, path: str, where: str) -> None:
    """Trial 0 runs the untuned values, so they must lie in the space."""
    if dim[0] == "categorical":
        ok = any(value == c and type(value) is type(c) for c in dim[1]) or (
            not isinstance(value, bool) and any(not isinstance(c, bool) and value == c for c in dim[1]))
    else:
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        ok = number and dim[1] <= value <= dim[2]
    if not ok:
        shown = dim[1] if dim[0] == "categorical" else f"[{dim[1]}, {dim[2]}]"
        raise UserError(f"{path}: the untuned value {value!r} (tried first) lies outside {shown} in {where}; "
                        "widen the range or set the value inside it (methods.ROW.params or optim).")


def suggest(trial: Any, name: str, dim: tuple) -> Any:
    """Sample one search-space dimension (see ``schema.parse_space``)."""
    kind = dim[0]
    if kind == "categorical":
        return trial.suggest_categorical(name, dim[1])
    if kind == "int":
        return trial.suggest_int(name, dim[1], dim[2])
    return trial.suggest_float(name, float(dim[1]), float(dim[2]), log=kind == "log")
