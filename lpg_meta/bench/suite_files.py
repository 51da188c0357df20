"""Where a suite file is: a path as given, else a shipped suite by name (``cpu``, ``smoke.yaml``).

A clone keeps its suites in ``benchmarks/``; an installed wheel carries copies in
``lpg_meta/suites/`` (``setup.py`` copies them at build time), so ``lpg-meta run smoke`` works
without a clone. A path that exists always wins over a shipped name.
"""

from __future__ import annotations

from pathlib import Path

from lpg_meta.errors import UserError, closest

_PACKAGE = Path(__file__).resolve().parents[1]
# The wheel's copies first, then a clone's (an editable install or PYTHONPATH=clone).
SUITE_DIRS = (_PACKAGE / "suites", _PACKAGE.parent / "benchmarks")


def shipped_suites() -> dict[str, Path]:
    """Name -> file of every shipped suite (the wheel's copy where both exist)."""
    found: dict[str, Path] = {}
    for folder in SUITE_DIRS:
        for path in sorted(folder.glob("*.yaml")):
            found.setdefault(path.stem, path)
    return found


def find_suite(suite: str | Path) -> Path:
    """The file of ``suite``: an existing path, or the shipped suite of that name (``.yaml`` optional)."""
    path = Path(suite)
    if path.exists():
        return path
    shipped = shipped_suites()
    name = path.name.removesuffix(".yaml")
    # A bare name, or a shipped suite's usual path (benchmarks/cpu.yaml) asked outside the clone.
    if name in shipped and (path.parent == Path(".") or path.parent.name == "benchmarks"):
        return shipped[name]
    names = ", ".join(shipped) or "none found"
    raise UserError(f"cannot read suite file {suite}: No such file, and no shipped suite of that name;"
                    f" check the path, or name a shipped suite: {names}.{closest(name, list(shipped))}")
