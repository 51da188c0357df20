"""The package's import graph: the light entry points load neither torch nor Optuna."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import lpg_meta

HEAVY = ("torch", "optuna", "matplotlib", "scipy", "sklearn")


def loaded_after(code: str) -> list[str]:
    """The heavy top-level packages in ``sys.modules`` of a fresh interpreter after ``code``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(m for m in sys.modules if '.' not in m)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    modules = json.loads(out.stdout.strip().splitlines()[-1])
    return [m for m in HEAVY if m in modules]


@pytest.mark.parametrize(
    "code",
    [
        "import lpg_meta",
        "import lpg_meta.errors",
        "import lpg_meta.bench, lpg_meta.report",
        # the parser behind `lpg-meta --help`, every sub-command's included
        "from lpg_meta.cli import build_parser; build_parser().format_help()",
    ],
)
def test_light_entry_points_load_no_heavy_library(code: str) -> None:
    assert loaded_after(code) == []


def test_the_probe_sees_a_heavy_import() -> None:
    # The check above could pass by never seeing anything: here it must see torch.
    assert "torch" in loaded_after("import lpg_meta.methods")


def test_lazy_names_resolve_to_their_modules() -> None:
    from lpg_meta.bench.runner import run_suite
    from lpg_meta.errors import UserError

    assert lpg_meta.run_suite is run_suite
    assert lpg_meta.UserError is UserError
    assert set(lpg_meta.__all__) <= set(dir(lpg_meta))
    for name in lpg_meta.__all__:
        getattr(lpg_meta, name)
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = lpg_meta.no_such_name
