"""Method implementations and their composition (``lpg+BASE`` plug-ins).

Each module here registers its classes in ``METHODS``; what a method is (settings, ranges, search
space, role, cost) is declared in ``lpg_meta/catalog/methods.py``, read without torch.
"""

from __future__ import annotations

from typing import Any

from lpg_meta.catalog import check_method_rules, method_params, method_parts
from lpg_meta.methods.base import Method, StepInfo, TrainContext
from lpg_meta.params import resolve_params
from lpg_meta.registry import METHODS

__all__ = [
    "METHODS",
    "Method",
    "StepInfo",
    "TrainContext",
    "build_method",
    "method_classes",
]


def method_classes(name: str) -> tuple[type[Method], type[Method] | None]:
    """The classes of ``name`` (``X`` or ``WRAPPER+BASE``), the composition checked on the declarations."""
    wrapper, base = method_parts(name)
    return METHODS.get(wrapper.name), None if base is None else METHODS.get(base.name)


def build_method(name: str, params: dict[str, Any], ctx: TrainContext) -> Method:
    """Instantiate method ``name`` with user ``params`` (checked against its declared settings)."""
    wrapper, base = method_classes(name)
    resolved = resolve_params(method_params(name), params, "method")
    check_method_rules(name, resolved)
    if base is None:
        return wrapper(resolved, ctx)
    base_method = base({k: resolved[k] for k in base.defaults}, ctx)
    return wrapper({k: resolved[k] for k in wrapper.defaults}, ctx, base=base_method)
