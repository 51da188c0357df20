"""Import every module of a package so that their ``@register`` decorators run."""

from __future__ import annotations

import importlib
import pkgutil


def import_submodules(package_name: str, package_path: list[str], skip: tuple[str, ...] = ()) -> None:
    """Import all direct submodules of a package (adding an entry is then one new file)."""
    for info in pkgutil.iter_modules(package_path):
        if info.name not in skip and not info.name.startswith("_"):
            importlib.import_module(f"{package_name}.{info.name}")
