"""Bench asks the registered pieces instead of special-casing them: step costs, data on disk."""

from __future__ import annotations

import pytest

from lpg_meta.bench.estimate import method_factor
from lpg_meta.bench.preflight import data_present
from lpg_meta.data import DATASETS
from lpg_meta.errors import UserError


@pytest.mark.parametrize(
    ("method", "factor"),
    [("ce", 1.0), ("lpg_rule", 1.0), ("sam", 2.0), ("lpg", 5.0), ("l2rw", 5.0), ("gdw", 5.0),
     ("lpg+la", 5.0), ("lpg_scale+sam", 10.0)],
)
def test_step_cost_is_the_product_of_the_methods_step_costs(method: str, factor: float) -> None:
    assert method_factor(method) == factor


def test_a_new_step_cost_needs_no_bench_edit(monkeypatch: pytest.MonkeyPatch) -> None:
    from lpg_meta.methods import METHODS

    monkeypatch.setattr(METHODS.get("gce"), "step_cost", 3.0)
    assert method_factor("gce") == 3.0 and method_factor("lpg+gce") == 15.0


def test_the_dry_run_text_reads_step_costs_from_the_methods(monkeypatch: pytest.MonkeyPatch) -> None:
    from lpg_meta.bench.command import format_dry_run
    from lpg_meta.methods import METHODS

    monkeypatch.setattr(METHODS.get("gce"), "step_cost", 3.0)
    summary = {"suite": "s", "output": "o", "storage": "j", "cells": [], "run_equivalents": 0, "seconds": 0.0,
               "seconds_unknown": 0}
    text = format_dry_run(summary)
    costs = text.split("step cost (", 1)[1].split(")", 1)[0]
    assert costs.endswith("; x3: gce; x2: sam; others x1"), costs
    assert costs.startswith("x5: ") and {"lpg", "l2rw", "mwnet", "gdw"} <= set(costs[4:].split("; ")[0].split(", "))


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
