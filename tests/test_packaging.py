"""Packaging: SPDX licence, LICENSE, CITATION.cff, and a wheel that carries the suites.

The wheel is built offline from a copy of the source (``pip wheel --no-deps --no-build-isolation``,
with this environment's setuptools) and installed into a fresh virtual environment that sees this
one's dependencies (torch is not installed again) but not the clone; from outside the clone it
runs the smoke suite from its packaged copy, one epoch a run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE", "CITATION.cff", "constraints.txt")


def test_licence_is_an_spdx_string_with_its_file() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert {"3.11", "3.12", "3.13"} == {c.rsplit(" ", 1)[1] for c in project["classifiers"] if "Python :: 3." in c}
    assert project["requires-python"] == ">=3.11,<3.14"


def test_citation_cites_the_project_and_the_paper() -> None:
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software" and cff["license"] == "MIT"
    assert cff["title"] and cff["message"] and cff["authors"]
    paper = cff["references"][0]
    assert paper["title"] == "Gradient Perturbation: Learning to Perturb Gradients for Adaptive Training"
    assert paper["authors"][0]["family-names"] == "Li" and paper["year"] == 2026
    assert paper["identifiers"][0]["value"] == "arXiv:2605.29494"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> tuple[Path, str]:
    src = tmp_path_factory.mktemp("src")
    for name in SOURCE:
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "lpg_meta", src / "lpg_meta", ignore=shutil.ignore_patterns("__pycache__"))
    (src / "benchmarks").mkdir()
    for suite in (ROOT / "benchmarks").glob("*.yaml"):
        shutil.copy(suite, src / "benchmarks" / suite.name)
    dist = tmp_path_factory.mktemp("dist")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation",
                            "--no-index", "-w", str(dist), str(src)], capture_output=True, text=True, env=_env())
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return next(dist.glob("lpg_meta-*.whl")), build.stdout + build.stderr


def _env() -> dict[str, str]:
    """This environment without PYTHONPATH: the installed wheel, not the clone, must be imported."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def test_the_wheel_carries_the_suites_licence_and_metadata(wheel) -> None:
    path, log = wheel
    assert "Deprecat" not in log  # e.g. setuptools' warning on a { text = ... } licence table
    names = zipfile.ZipFile(path).namelist()
    assert {f"lpg_meta/suites/{s}.yaml" for s in ("smoke", "cpu", "sanity", "cifar")} <= set(names)
    meta = zipfile.ZipFile(path).read(next(n for n in names if n.endswith("dist-info/METADATA"))).decode()
    assert "License-Expression: MIT" in meta and any(n.endswith("licenses/LICENSE") for n in names)


def test_an_installed_wheel_runs_the_smoke_suite_from_its_packaged_copy(wheel, tmp_path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # This environment's packages (torch, ...) without its .pth files (an editable lpg-meta among them).
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
                    str(wheel[0])], check=True, capture_output=True, env=_env())
    work = tmp_path / "elsewhere"  # not the clone: no benchmarks/ here
    work.mkdir()
    where = subprocess.run([python, "-c", "import lpg_meta; from lpg_meta.bench.suite_files import find_suite; "
                            "print(lpg_meta.__file__); print(find_suite('smoke'))"],
                           capture_output=True, text=True, cwd=work, env=_env(), check=True).stdout.split()
    assert all(Path(p).is_relative_to(site) for p in where), where
    run = subprocess.run([venv / "bin" / "lpg-meta", "run", "smoke", "--set", "train.epochs=1", "--out", "out"],
                         capture_output=True, text=True, cwd=work, env=_env())
    assert run.returncode == 0, run.stderr[-3000:]
    assert "done:" in run.stdout and (work / "out" / "leaderboard.md").exists()
    assert len(list((work / "out").glob("*/*/seed*/result.json"))) == 12
