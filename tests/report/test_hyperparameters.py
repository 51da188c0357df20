"""The appendix table of hyperparameters: tuned values per cell, search space and trials, CSV and LaTeX."""

from __future__ import annotations

import csv
import io
import json

from test_collect import write_result

from lpg_meta.report import load_results
from lpg_meta.report.hyperparameters import describe_space, render_csv, render_tex
from lpg_meta.report.tidy import write_tidy

SPEC = {"suite": "s", "tuning": {"trials": 8},
        "methods": {"ce": {"display": "CE", "method": "ce", "search_space": {}},
                    "lpg": {"display": "LPG", "method": "lpg",
                            "search_space": {"eps": ["log", 0.01, 0.9],
                                             "meta_optimizer": ["categorical", ["adam", "sgd"]]}}}}


def _suite(row: str, method: str, tuned: dict) -> dict:
    return {"name": "s", "dataset_row": row, "method_row": method, "tuned_params": tuned}


def test_each_cell_shows_its_tuned_values_space_and_trials_from_files_and_from_the_extract(tmp_path, latex):
    for seed in (0, 1):
        for row, eps in (("bal", 0.05), ("lt", 0.4)):
            write_result(tmp_path / "runs", row, "lpg", seed, method="lpg", suite=_suite(row, "lpg", {"eps": eps}),
                         **({"imbalance": 10.0} if row == "lt" else {}))
            write_result(tmp_path / "runs", row, "ce", seed, suite=_suite(row, "ce", {}),
                         **({"imbalance": 10.0} if row == "lt" else {}))
    from_files = load_results(tmp_path / "runs", SPEC)
    write_tidy(from_files, tmp_path)
    settings = list(csv.DictReader((tmp_path / "run_settings.csv").open()))
    assert {"dataset": "lt", "method": "lpg", "seed": "1", "section": "tuned", "key": "eps", "value": "0.4"} in settings
    from_extract = load_results(tmp_path / "runs.csv")
    assert from_extract.settings == from_files.settings  # the extract reads back what the result files hold
    assert render_csv(from_files) == render_csv(from_extract)  # the runner's file and make tables' are the same
    for results in (from_files, from_extract):
        rows = {(r["dataset"], r["method"]): r for r in csv.DictReader(io.StringIO(render_csv(results)))}
        assert json.loads(rows[("lt", "lpg")]["tuned"]) == {"eps": 0.4} and rows[("lt", "lpg")]["trials"] == "8"
        assert rows[("bal", "ce")]["trials"] == "0" and rows[("bal", "ce")]["seeds"] == "2"
        tex = render_tex(results)
        assert "eps: log [0.01, 0.9]" in tex and "meta\\_optimizer: \\{adam, sgd\\}" in tex
        assert "eps 0.05" in tex and "eps 0.4" in tex and "none (seeds only)" in tex
        latex(tex, tmp_path / "tex")
        latex(tex, tmp_path / "tex55", "onecolumn")


def test_without_run_settings_the_table_says_the_values_are_not_recorded(tmp_path):
    write_result(tmp_path / "runs", "bal", "lpg", 0, method="lpg")
    results = load_results(tmp_path / "runs", SPEC)
    results.settings.clear()
    tex = render_tex(results)
    assert "does not record the chosen values" in tex and "eps: log [0.01, 0.9]" in tex


def test_space_descriptions():
    assert describe_space({"q": ["int", 1, 5], "eta": ["categorical", [0.01, 0.3, 1.0]]}) == [
        "q: [1, 5] (int)", "eta: {0.01, 0.3, 1}"]
