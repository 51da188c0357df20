"""Method registry and composition (``lpg+BASE`` plug-ins)."""

from __future__ import annotations

from typing import Any

from lpg_meta.errors import UserError
from lpg_meta.methods.base import Method, StepInfo, TrainContext
from lpg_meta.params import resolve_params
from lpg_meta.registry import METHODS
from lpg_meta.registry_import import import_submodules

import_submodules(__name__, __path__, skip=("base",))

__all__ = [
    "METHODS",
    "Method",
    "StepInfo",
    "TrainContext",
    "build_method",
    "check_meta_split",
    "method_classes",
    "method_defaults",
    "method_display_name",
    "method_names",
    "method_search_space",
]


def method_classes(name: str) -> tuple[type[Method], type[Method] | None]:
    """Resolve ``name`` (``X`` or ``WRAPPER+BASE``) to its classes, checking the composition."""
    if "+" not in name:
        return METHODS.get(name), None
    wrapper_name, base_name = name.split("+", 1)
    wrapper, base = METHODS.get(wrapper_name), METHODS.get(base_name)
    accepts = getattr(wrapper, "accepts_bases", ())
    if not accepts:
        raise UserError(f"method '{wrapper_name}' is not a plug-in, so '{name}' is not a method.")
    if base.kind not in accepts:
        raise UserError(
            f"'{name}' cannot compose: '{base_name}' is a {base.kind}-based method and "
            f"'{wrapper_name}' plugs only into {' or '.join(accepts)}-based ones. {wrapper.compose_hint}"
        )
    if getattr(base, "accepts_bases", ()):
        # Both halves would record their state under one key; the inner one would be lost.
        allowed = sorted(n for n in METHODS.names() if METHODS.get(n).kind in accepts
                         and not getattr(METHODS.get(n), "accepts_bases", ()))
        raise UserError(
            f"'{name}' cannot compose: '{base_name}' is itself a plug-in; '{wrapper_name}' plugs into "
            f"one base method: {', '.join(allowed)}."
        )
    clash = set(wrapper.defaults) & set(base.defaults)
    if clash:
        raise UserError(f"'{name}' cannot compose: both halves define {sorted(clash)}.")
    return wrapper, base


def method_display_name(name: str) -> str:
    """The name a paper prints for method ``name``: ``display_name`` of its class(es), ``LPG+LA``."""
    wrapper, base = method_classes(name)
    shown = [c.display_name or c.name for c in (wrapper, base) if c is not None]
    return "+".join(shown)


def method_defaults(name: str) -> dict[str, Any]:
    """All settings of method ``name`` with their defaults (plug-in and base merged)."""
    wrapper, base = method_classes(name)
    return {**(base.defaults if base else {}), **wrapper.defaults}


def method_search_space(name: str) -> dict[str, Any]:
    """The declared tuning space of method ``name`` (plug-in and base merged)."""
    wrapper, base = method_classes(name)
    return {**(base.search_space if base else {}), **wrapper.search_space}


def build_method(name: str, params: dict[str, Any], ctx: TrainContext) -> Method:
    """Instantiate method ``name`` with user ``params`` (validated against its defaults)."""
    wrapper, base = method_classes(name)
    resolved = resolve_params(method_defaults(name), params, "method")
    if base is None:
        return wrapper(resolved, ctx)
    base_method = base({k: resolved[k] for k in base.defaults}, ctx)
    return wrapper({k: resolved[k] for k in wrapper.defaults}, ctx, base=base_method)


def check_meta_split(name: str, meta_per_class: int) -> None:
    """Raise a UserError if method ``name`` (or either half of a plug-in) needs a meta split and
    the data have none: the one check, made when the config is resolved, before any batch."""
    if meta_per_class > 0 or not any(c is not None and c.needs_meta for c in method_classes(name)):
        return
    raise UserError(
        f"method '{name}' learns from a clean meta split, but data.meta_per_class is 0; set it above 0 "
        "(e.g. --set data.meta_per_class=10) or use a method without one (e.g. lpg_rule)."
    )


def method_names() -> list[str]:
    """Registered method names (plug-in combinations are not listed)."""
    return METHODS.names()
