"""Every registered entry, declared once as data (no torch), and the look-ups the layers share.

``methods``, ``data`` and ``models`` declare the entries; the functions here answer what the
config, the suite loader, the command line and the report ask of them: a method name's settings
(a plug-in ``WRAPPER+BASE`` merges both halves), its search space, display name and step cost,
a data source's or a model's settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lpg_meta.catalog import data, methods, models  # noqa: F401 - declares the entries
from lpg_meta.errors import UserError
from lpg_meta.params import Param, defaults_of, space_of
from lpg_meta.registry import DATASETS, METHODS, MODELS, MethodDeclaration, ModelDeclaration, SourceDeclaration


def method_parts(name: str) -> tuple[MethodDeclaration, MethodDeclaration | None]:
    """Resolve ``name`` (``X`` or ``WRAPPER+BASE``) to its declarations, checking the composition."""
    if "+" not in name:
        return _method(name), None
    wrapper_name, base_name = name.split("+", 1)
    wrapper, base = _method(wrapper_name), _method(base_name)
    if not wrapper.accepts_bases:
        raise UserError(f"method '{wrapper_name}' is not a plug-in, so '{name}' is not a method.")
    if base.role not in wrapper.accepts_bases:
        raise UserError(
            f"'{name}' cannot compose: '{base_name}' is a {base.role}-based method and "
            f"'{wrapper_name}' plugs only into {' or '.join(wrapper.accepts_bases)}-based ones. {wrapper.compose_hint}"
        )
    if base.accepts_bases:
        # Both halves would record their state under one key; the inner one would be lost.
        allowed = sorted(n for n in METHODS.names() if _method(n).role in wrapper.accepts_bases
                         and not _method(n).accepts_bases)
        raise UserError(
            f"'{name}' cannot compose: '{base_name}' is itself a plug-in; '{wrapper_name}' plugs into "
            f"one base method: {', '.join(allowed)}."
        )
    clash = set(wrapper.params) & set(base.params)
    if clash:
        raise UserError(f"'{name}' cannot compose: both halves define {sorted(clash)}.")
    return wrapper, base


def _method(name: str) -> MethodDeclaration:
    declaration = METHODS.declaration(name)
    assert isinstance(declaration, MethodDeclaration)
    return declaration


def method_params(name: str) -> dict[str, Param]:
    """The declared settings of method ``name`` (plug-in and base merged)."""
    wrapper, base = method_parts(name)
    return {**(base.params if base else {}), **wrapper.params}


def method_defaults(name: str) -> dict[str, Any]:
    """All settings of method ``name`` with their defaults (plug-in and base merged)."""
    return defaults_of(method_params(name))


def method_search_space(name: str) -> dict[str, Any]:
    """The declared tuning space of method ``name`` (plug-in and base merged)."""
    wrapper, base = method_parts(name)
    return {**(space_of(base.params) if base else {}), **space_of(wrapper.params)}


def method_display_name(name: str) -> str:
    """The name a paper prints for method ``name``: the display names of its halves, ``LPG+LA``."""
    return "+".join(d.shown for d in method_parts(name) if d is not None)


def method_step_cost(name: str) -> float:
    """A step's time relative to ce; a plug-in costs its own times its base's."""
    wrapper, base = method_parts(name)
    return wrapper.step_cost * (base.step_cost if base else 1.0)


def method_family(name: str) -> str:
    """The method family of ``name``'s outer half (``lpg`` for every LPG variant), or its own name."""
    wrapper, _ = method_parts(name)
    return wrapper.family or wrapper.name


def plugin_base(name: str) -> str | None:
    """The method plug-in ``name`` wraps: its base (``lpg+la``: ``la``), or the reference baseline where it
    runs alone (``lpg`` wraps plain cross-entropy); None where ``name`` is no plug-in."""
    wrapper, base = method_parts(name)
    if not wrapper.accepts_bases:
        return None
    return base.name if base is not None else methods.REFERENCE


def method_intervention(name: str) -> bool:
    """Whether method ``name`` is a hand-set intervention (``lpg_fixed``) rather than a method to rank."""
    wrapper, _ = method_parts(name)
    return wrapper.intervention


def check_method_rules(name: str, params: Mapping[str, Any]) -> None:
    """Raise a UserError for a broken rule across the resolved settings of method ``name``'s halves."""
    for part in method_parts(name):
        problem = part.rule(params) if part is not None and part.rule is not None else None
        if problem:
            raise UserError(problem)


def check_meta_split(name: str, meta_per_class: int) -> None:
    """Raise a UserError if method ``name`` (or either half of a plug-in) needs a meta split and
    the data have none: the one check, made when the config is resolved, before any batch."""
    if meta_per_class > 0 or not any(d is not None and d.needs_meta for d in method_parts(name)):
        return
    raise UserError(
        f"method '{name}' learns from a clean meta split, but data.meta_per_class is 0; set it above 0 "
        "(e.g. --set data.meta_per_class=10) or use a method without one (e.g. lpg_rule)."
    )


def source(name: str) -> SourceDeclaration:
    """The declaration of data source ``name``."""
    declaration = DATASETS.declaration(name)
    assert isinstance(declaration, SourceDeclaration)
    return declaration


def model(name: str) -> ModelDeclaration:
    """The declaration of model ``name``."""
    declaration = MODELS.declaration(name)
    assert isinstance(declaration, ModelDeclaration)
    return declaration


def data_defaults(name: str) -> dict[str, Any]:
    """All settings of dataset ``name`` with their defaults (common and source-specific)."""
    return defaults_of(source(name).params)


def model_defaults(name: str) -> dict[str, Any]:
    """The declared settings of model ``name`` with their default values."""
    return defaults_of(model(name).params)
