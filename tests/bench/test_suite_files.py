"""Shipped suites by name (``lpg-meta run smoke``), from a clone or an installed wheel."""

from __future__ import annotations

from pathlib import Path

import pytest

from lpg_meta.bench import suite_files
from lpg_meta.bench.schema import load_suite
from lpg_meta.errors import UserError

ROOT = Path(__file__).resolve().parents[2]


def test_a_name_finds_the_clones_suite(monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)  # not the clone: names still work, paths are as given
    assert suite_files.find_suite("smoke") == ROOT / "benchmarks" / "smoke.yaml"
    assert suite_files.find_suite("cpu.yaml") == ROOT / "benchmarks" / "cpu.yaml"
    assert suite_files.find_suite("benchmarks/cpu.yaml") == ROOT / "benchmarks" / "cpu.yaml"
    assert load_suite("smoke").name == "smoke"
    assert {"cpu", "smoke", "sanity", "cifar"} <= set(suite_files.shipped_suites())


def test_an_existing_path_wins_over_a_shipped_name(monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "smoke").write_text("suite: mine\n")
    assert suite_files.find_suite("smoke") == Path("smoke")


def test_the_wheels_copy_comes_first(monkeypatch, tmp_path) -> None:
    packaged, clone = tmp_path / "suites", tmp_path / "benchmarks"
    for folder in (packaged, clone):
        folder.mkdir()
        (folder / "smoke.yaml").write_text("suite: smoke\n")
    monkeypatch.setattr(suite_files, "SUITE_DIRS", (packaged, clone))
    monkeypatch.chdir(tmp_path)
    assert suite_files.find_suite("smoke") == packaged / "smoke.yaml"


def test_an_unknown_name_lists_the_shipped_suites(monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match=r"shipped suite: .*cpu.*Did you mean 'smoke'") as err:
        suite_files.find_suite("smok")
    assert "\n" not in str(err.value)
    with pytest.raises(UserError, match="No such file"):
        load_suite(tmp_path / "missing" / "suite.yaml")
