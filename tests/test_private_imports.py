"""No module of lpg_meta uses a private name (``_x``) of another lpg_meta package.

A name with a leading underscore is free to change with its package; another package that
imports it, or reaches it as ``module._x``, would break silently. Within one package (e.g.
``lpg_meta.methods`` and its ``_meta_stream``) private names are fair game.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import lpg_meta

ROOT = Path(lpg_meta.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(path: Path) -> str:
    name = module_name(path)
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def public_part(module: str) -> str:
    """The longest leading part of a dotted name with no private component."""
    parts = module.split(".")
    for i, part in enumerate(parts):
        if private(part):
            return ".".join(parts[:i])
    return module


def owner(dotted: str) -> str:
    """The package a private name under ``dotted`` (a package or a module) belongs to."""
    return dotted if (ROOT.parent / dotted.replace(".", "/")).is_dir() else dotted.rpartition(".")[0]


def inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def violations(path: Path) -> list[str]:
    """``module: name`` for each private name of another package that ``path`` uses."""
    package, out = package_of(path), []
    tree = ast.parse(path.read_text(), str(path))
    modules: dict[str, str] = {}  # local alias -> lpg_meta module it names
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("lpg_meta"):
            module = node.module or ""
            for alias in node.names:
                target = f"{module}.{alias.name}"
                modules[alias.asname or alias.name] = target
                # a private module on the way, or a private name, must belong to our package
                public = public_part(target)
                if public != target and not inside(package, owner(public)):
                    out.append(f"{module_name(path)}: from {module} import {alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("lpg_meta"):
                    public = public_part(alias.name)
                    if public != alias.name and not inside(package, owner(public)):
                        out.append(f"{module_name(path)}: import {alias.name}")
                    if alias.asname:
                        modules[alias.asname] = alias.name
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and private(node.attr):
            target = modules.get(node.value.id)
            if target is not None and not inside(package, owner(target)):
                out.append(f"{module_name(path)}: {node.value.id}.{node.attr}")
    return out


@pytest.mark.parametrize("path", sorted(ROOT.rglob("*.py")), ids=lambda p: module_name(p))
def test_no_private_name_of_another_package(path: Path) -> None:
    assert violations(path) == []


def test_the_check_finds_private_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bench = tmp_path / "lpg_meta" / "bench"
    for folder in ("bench", "data", "methods", "train"):
        (tmp_path / "lpg_meta" / folder).mkdir(parents=True)
    probe = bench / "probe.py"
    probe.write_text(
        "from lpg_meta.data.build import _check\n"
        "from lpg_meta.methods._meta_stream import MetaStream\n"
        "from lpg_meta.bench._own import helper\n"  # same package: allowed
        "from lpg_meta.bench.units import _cache\n"  # same package: allowed
        "from lpg_meta import __version__\n"  # a dunder is not private
        "from lpg_meta.bench import storage as storage_mod\n"
        "from lpg_meta import train\n"
        "x = storage_mod._own_package_is_fine\n"
        "y = train._trainer_cache\n"
    )
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path / "lpg_meta")
    assert violations(probe) == [
        "lpg_meta.bench.probe: from lpg_meta.data.build import _check",
        "lpg_meta.bench.probe: from lpg_meta.methods._meta_stream import MetaStream",
        "lpg_meta.bench.probe: train._trainer_cache",
    ]
