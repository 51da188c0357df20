"""The Makefile's choice of Python: which it takes, that it says so, and a mismatched .venv refused with the fix.

Each case runs ``make check-python`` on a copy of the Makefile with stand-in interpreters (shell
scripts that print a version) on ``PATH``, so no real Python or .venv is needed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def fake_python(path: Path, version: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho {version}\n")
    path.chmod(0o755)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for name in ("Makefile", "constraints.txt"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def check(tree: Path, pythons: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    bin_dir = tree / "bin"
    for name, version in pythons.items():
        fake_python(bin_dir / name, version)
    tools = tree / "tools"  # only what the Makefile calls: no real python3 on this PATH
    tools.mkdir(exist_ok=True)
    for tool in ("make", "sh", "sed", "grep"):
        if not (tools / tool).exists():
            (tools / tool).symlink_to(shutil.which(tool))
    return subprocess.run([tools / "make", "--no-print-directory", "check-python", *args], cwd=tree,
                          capture_output=True, text=True, env={"PATH": f"{bin_dir}:{tools}"})


def test_takes_the_first_supported_python_and_says_which(tree) -> None:
    done = check(tree, {"python3": "3.10", "python3.13": "3.13", "python3.12": "3.12"})
    assert done.returncode == 0 and "using python3.13 (Python 3.13" in done.stdout
    only_312 = check(tree, {"python3": "3.12"})
    assert "using python3 (Python 3.12" in only_312.stdout


def test_no_supported_python_is_one_line_with_the_fix(tree) -> None:
    done = check(tree, {"python3": "3.10"})
    assert done.returncode != 0 and "no Python 3.11-3.13 found" in done.stderr and "PYTHON=" in done.stderr


def test_a_venv_of_another_python_is_refused_with_the_fix(tree) -> None:
    fake_python(tree / ".venv" / "bin" / "python", "3.10")
    done = check(tree, {"python3": "3.12"})
    assert done.returncode != 0 and ".venv is Python 3.10" in done.stderr and "make clean" in done.stderr
    fake_python(tree / ".venv" / "bin" / "python", "3.11")
    assert "using .venv (Python 3.11)" in check(tree, {"python3": "3.12"}).stdout  # no PYTHON=: kept
    mismatch = check(tree, {"python3.13": "3.13"}, "PYTHON=python3.13")
    assert mismatch.returncode != 0 and "make clean" in mismatch.stderr
    assert len(mismatch.stderr.strip().splitlines()) == 2  # the line, and make's own "Error 1"


def test_a_broken_venv_and_a_bad_torch_choice(tree) -> None:
    (tree / ".venv").mkdir()
    broken = check(tree, {"python3": "3.12"})
    assert broken.returncode != 0 and ".venv is broken" in broken.stderr
    shutil.rmtree(tree / ".venv")
    bad = check(tree, {"python3": "3.12"}, "TORCH=gpu")
    assert bad.returncode != 0 and "TORCH=cpu" in bad.stderr
