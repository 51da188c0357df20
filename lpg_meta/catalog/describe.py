"""``lpg-meta list`` and ``lpg-meta show NAME``: the declarations in words, read without torch."""

from __future__ import annotations

from typing import Any

from lpg_meta.catalog import method_display_name, method_params, method_parts, method_search_space
from lpg_meta.errors import UserError, closest
from lpg_meta.params import Param
from lpg_meta.registry import DATASETS, METHODS, MODELS, Declaration, MethodDeclaration, ModelDeclaration, Registry

KINDS: tuple[tuple[str, Registry[Any]], ...] = (("method", METHODS), ("dataset", DATASETS), ("model", MODELS))


def listing() -> str:
    """Every entry on one line each: name, display name and description, by kind."""
    lines = []
    for kind, registry in KINDS:
        lines.append(f"{kind}s:")
        for name in registry.names():
            declared = registry.declaration(name)
            lines.append(f"  {name:<12} {declared.shown:<17} {declared.description}")
    lines.append("plug-ins: lpg+BASE (and lpg_scale+BASE, ...) for any loss- or step-based BASE; "
                 "`lpg-meta show NAME` for an entry's settings")
    return "\n".join(lines)


def show(name: str) -> str:
    """The description, reference, settings (default, valid range, search space) of entry ``name``."""
    if "+" in name or name in METHODS:
        parts = [d for d in method_parts(name) if d is not None]
        head = _head(name, "method", method_display_name(name), parts)
        return "\n".join([*head, *_params(method_params(name), method_search_space(name))])
    for kind, registry in KINDS[1:]:
        if name in registry:
            declared = registry.declaration(name)
            return "\n".join([*_head(name, kind, declared.shown, [declared]),
                              *_params(declared.params, declared.search_space())])
    known = [n for _, r in KINDS for n in r.names()]
    raise UserError(f"unknown entry '{name}'.{closest(name, known)} See `lpg-meta list`.")


def _head(name: str, kind: str, shown: str, parts: list[Declaration]) -> list[str]:
    lines = [f"{name} ({kind}): {shown}"]
    for part in parts:
        prefix = f"{part.name}: " if len(parts) > 1 else ""
        lines.append(f"  {prefix}{part.description}")
        if part.reference:
            lines.append(f"  {prefix}reference: {part.reference}")
        if isinstance(part, MethodDeclaration):
            plug = f"; plugs into {' and '.join(part.accepts_bases)}-based methods" if part.accepts_bases else ""
            meta = "; needs a meta split (data.meta_per_class > 0)" if part.needs_meta else ""
            lines.append(f"  {prefix}role: {part.role}{plug}{meta}; step cost x{part.step_cost:g} of ce")
            for series in part.series:
                lines.append(f"  {prefix}records per epoch: {series.name} ({series.label})")
        if isinstance(part, ModelDeclaration) and part.step_seconds is not None:
            lines.append(f"  {prefix}measured: {part.step_seconds:g} s a ce step at batch 128 (reference CPU)")
    return lines


def _params(params: dict[str, Param], space: dict[str, Any]) -> list[str]:
    if not params:
        return ["settings: none"]
    rows = [("setting", "default", "valid", "search space", "identity")]
    for key, param in params.items():
        tuned = space.get(key)
        rows.append((key, _value(param.default), param.range_text() or "any",
                     "" if tuned is None else f"[{', '.join(_value(v) for v in tuned)}]",
                     {"always": "yes", "when_set": "when set", "never": "no"}[param.identity]))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["settings:"]
    lines += ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    notes = [f"  {k}: {p.help}{f' ({p.note})' if p.note else ''}" for k, p in params.items() if p.help or p.note]
    return lines + (["notes:", *notes] if notes else [])


def _value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return f"[{', '.join(_value(v) for v in value)}]"
    return str(value)
