"""The README's "add a data set or a method" recipe works as written on benchmarks/smoke.yaml:
smoke.yaml's defaults hold MNIST-1D's own ``data.num_samples``, which must not reach
the digits row the recipe adds. The rows are read from the README itself, so the test follows it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from lpg_meta.bench.cells import expand, row_defaults
from lpg_meta.bench.schema import parse_suite
from lpg_meta.cli import main
from lpg_meta.errors import UserError

ROOT = Path(__file__).resolve().parents[2]


def recipe_rows() -> dict:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Adding a data set or a method"):]
    return yaml.safe_load(re.search(r"```yaml\n(.*?)```", section, re.S).group(1))


def smoke_with_recipe(tmp_path: Path) -> Path:
    suite = yaml.safe_load((ROOT / "benchmarks/smoke.yaml").read_text())
    rows = recipe_rows()
    assert any(row.get("source") == "digits" for row in rows["datasets"].values())  # the case at hand
    suite["datasets"].update(rows["datasets"])
    suite["methods"].update(rows["methods"])
    suite["output"] = str(tmp_path / "out")
    path = tmp_path / "smoke.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


def test_the_readme_recipe_validates_on_the_smoke_suite(tmp_path, capsys) -> None:
    path = smoke_with_recipe(tmp_path)
    assert main(["run", str(path), "--dry-run"]) == 0, capsys.readouterr().err
    cells = {(c.dataset, c.method): c for c in expand(parse_suite(path.read_text(), path))}
    digits_rows = [name for name, row in recipe_rows()["datasets"].items() if row.get("source") == "digits"]
    for (dataset, _), cell in cells.items():
        # MNIST-1D rows keep the suite's num_samples; the digits row never sees it.
        assert ("num_samples" in cell.raw.get("data", {})) == (dataset not in digits_rows)
    assert {m for d, m in cells if d in digits_rows} == {"ce", "lpg", "lpg_scale", *recipe_rows()["methods"]}


def test_a_defaults_key_no_source_has_is_an_error_that_names_the_fix() -> None:
    with pytest.raises(UserError, match=r"defaults\.data\.num_sample: no data source has it\. Did you mean "
                                        r"'num_samples'\?.*'digits'"):
        row_defaults({"data": {"num_sample": 10}}, "digits", "cnn2d")
    with pytest.raises(UserError, match=r"defaults\.model_params\.widht: no model has it"):
        row_defaults({"model_params": {"widht": 10}}, "digits", "cnn2d")
    # A setting of another source (model) is dropped for this row, and only for it.
    kept = row_defaults({"data": {"num_samples": 10, "imbalance": 5.0}}, "digits", "cnn2d")
    assert kept["data"] == {"imbalance": 5.0}
    assert row_defaults({"data": {"num_samples": 10}}, "mnist1d", "cnn1d")["data"] == {"num_samples": 10}
