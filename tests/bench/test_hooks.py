"""Bench asks the registered pieces instead of special-casing them: step costs, data on disk."""

from __future__ import annotations

from dataclasses import replace

import pytest

from lpg_meta.bench.estimate import method_factor
from lpg_meta.bench.preflight import data_present
from lpg_meta.data import DATASETS
from lpg_meta.errors import UserError
from lpg_meta.registry import METHODS


@pytest.fixture
def costly_gce():
    """gce declared with a step cost of 3 for one test."""
    declared = METHODS.declaration("gce")
    METHODS.declare(replace(declared, step_cost=3.0), replace=True)
    yield
    METHODS.declare(declared, replace=True)


@pytest.mark.parametrize(
    ("method", "factor"),
    # A meta step costs 5 ce steps; lpg and mwnet take one every 10th step (1 + 4 / 10 = 1.4),
    # l2rw and gdw every step.
    [("ce", 1.0), ("lpg_rule", 1.0), ("sam", 2.0), ("lpg", 1.4), ("mwnet", 1.4), ("l2rw", 5.0), ("gdw", 5.0),
     ("lpg+la", 1.4), ("lpg_scale+sam", 2.8)],
)
def test_step_cost_is_the_product_of_the_methods_step_costs(method: str, factor: float) -> None:
    assert method_factor(method) == factor


def test_a_new_step_cost_needs_no_bench_edit(costly_gce: None) -> None:
    assert method_factor("gce") == 3.0 and method_factor("lpg+gce") == pytest.approx(1.4 * 3.0)


def test_the_dry_run_text_reads_step_costs_from_the_methods(costly_gce: None) -> None:
    from lpg_meta.bench.command import format_dry_run

    summary = {"suite": "s", "output": "o", "storage": "j", "cells": [], "run_equivalents": 0, "seconds": 0.0,
               "seconds_unknown": 0, "workers": 1, "seconds_start": 0.0, "seconds_work": 0.0, "seconds_report": 0.0}
    text = format_dry_run(summary)
    costs = text.split("step cost (", 1)[1].split(")", 1)[0]
    groups = {part.split(": ")[0]: set(part.split(": ")[1].split(", ")) for part in costs.split("; ")[:-1]}
    assert list(groups) == ["x5", "x3", "x2", "x1.4"] and costs.endswith("; others x1"), costs
    assert groups["x5"] == {"l2rw", "gdw"} and groups["x3"] == {"gce"} and {"lpg", "mwnet"} <= groups["x1.4"]


def test_data_present_asks_the_source(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    data_present("mnist1d", {})  # generated data: nothing to check

    def missing(cls, params, where="data"):
        raise UserError(f"{where}.root: nothing at {params['root']}")

    monkeypatch.setattr(DATASETS.get("mnist1d"), "check_files", classmethod(missing))
    with pytest.raises(UserError, match="datasets.x.data.root: nothing at /nowhere"):
        data_present("mnist1d", {"root": "/nowhere"}, "datasets.x.data")


def test_sources_on_disk_check_their_folders(tmp_path) -> None:
    with pytest.raises(UserError, match="d.root: .* has no 'cifar-10-batches-py' folder"):
        data_present("cifar10", {"root": str(tmp_path), "download": False}, "d")
    data_present("cifar10", {"root": str(tmp_path), "download": True}, "d")  # fetched later
    with pytest.raises(UserError, match="d.root: no folder .*train"):
        data_present("imagefolder", {"root": str(tmp_path)}, "d")
    (tmp_path / "train").mkdir()
    (tmp_path / "test").mkdir()
    data_present("imagefolder", {"root": str(tmp_path)}, "d")
