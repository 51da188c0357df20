"""``lpg-meta run SUITE --set KEY=VALUE --out DIR``: the last layer of every cell, and its identity."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from suite_kit import tiny_suite

from lpg_meta.bench import make_plan, run_suite
from lpg_meta.cli import main
from lpg_meta.errors import UserError


def write(tmp_path: Path, **changes) -> Path:
    suite = tiny_suite("ovr", epochs=2) | changes
    # The row and the method row both set what --set must win over.
    suite["datasets"]["lt"]["train"] = {"epochs": 3}
    suite["methods"]["lpg_scale"]["params"]["eps"] = 0.2
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite | {"output": str(tmp_path / "out")}))
    return path


def cells(plan) -> dict:
    return {c.name: c for c in plan.cells}


def test_set_is_the_last_layer_over_defaults_rows_and_methods(tmp_path) -> None:
    path = write(tmp_path)
    plain = cells(make_plan(path))
    assert plain["lt/ce"].config(0)["train"]["epochs"] == 3  # the row over the defaults
    over = cells(make_plan(path, overrides=["train.epochs=1", "method.meta_batch_size=10", "optim.lr=0.05"]))
    for name in ("lt/ce", "lt/lpg_scale"):
        cfg = over[name].config(0)
        assert cfg["train"]["epochs"] == 1 and cfg["optim"]["lr"] == 0.05, name
    assert over["lt/lpg_scale"].config(0)["method_params"]["meta_batch_size"] == 10
    assert "meta_batch_size" not in over["lt/ce"].config(0)["method_params"]  # ce has no such setting
    # Part of the cell's identity: a new tuning study and new runs; the unchanged setting keeps both.
    assert over["lt/lpg_scale"].study_name != plain["lt/lpg_scale"].study_name
    assert over["lt/ce"].runs_study_name({}) != plain["lt/ce"].runs_study_name({})
    same = cells(make_plan(path, overrides=["train.epochs=3"]))
    assert same["lt/ce"].runs_study_name({}) == plain["lt/ce"].runs_study_name({})


def test_a_tuned_setting_that_set_fixes_leaves_the_search_space(tmp_path) -> None:
    path = write(tmp_path)
    assert "eps" in cells(make_plan(path))["lt/lpg_scale"].space
    fixed = cells(make_plan(path, overrides=["method.eps=0.5"]))["lt/lpg_scale"]
    assert fixed.space == {} and fixed.config(0)["method_params"]["eps"] == 0.5


def test_out_and_the_default_folder_of_a_set(tmp_path) -> None:
    path = write(tmp_path)
    assert make_plan(path, out=tmp_path / "elsewhere").output == tmp_path / "elsewhere"
    a = make_plan(path, overrides=["train.epochs=1"]).output
    b = make_plan(path, overrides=["train.epochs=2"]).output
    # Never the suite's own folder, and one per set of overrides.
    assert a.name.startswith("out-set-") and a.parent == tmp_path and a != b
    assert make_plan(path, overrides=["train.epochs=1"], out=tmp_path / "x").output == tmp_path / "x"


@pytest.mark.parametrize(("item", "named"), [
    ("method.epss=0.1", "--set method.epss"),
    ("data.imbalanc=3", "--set data.imbalanc"),
    ("dataset=digits", "--set dataset"),
    ("seed=3", "--set seed"),
    ("trian.epochs=1", "unknown section"),
])
def test_a_bad_set_is_one_line_naming_it(tmp_path, item, named) -> None:
    with pytest.raises(UserError, match=named):
        make_plan(write(tmp_path), overrides=[item])


def test_run_with_set_and_out_trains_the_overridden_config(tmp_path, capsys) -> None:
    path = write(tmp_path)
    out = tmp_path / "tried"
    assert main(["run", str(path), "--set", "train.epochs=1", "--out", str(out), "--only", "lt/ce"]) == 0
    summary = capsys.readouterr().out
    assert "done:" in summary and str(out) in summary
    import json

    result = json.loads((out / "lt" / "ce" / "seed0" / "result.json").read_text())
    assert result["config"]["train"]["epochs"] == 1 and len(result["history"]) == 1
    assert not (tmp_path / "out").exists()  # the suite's own folder is untouched
    # A rerun trains nothing and says so.
    assert main(["run", str(path), "--set", "train.epochs=1", "--out", str(out), "--only", "lt/ce"]) == 0
    rerun = capsys.readouterr().out
    assert "done: 0 trials and 0 runs trained now, 2 runs already done" in rerun and "2/2" in rerun


def test_dry_run_with_set_counts_the_overridden_epochs(tmp_path) -> None:
    path = write(tmp_path)
    rows = {r["cell"]: r for r in run_suite(path, dry_run=True, overrides=["train.epochs=1"])["cells"]}
    assert rows["lt/ce"]["epochs"] == 1
