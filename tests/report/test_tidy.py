"""Tidy data: the PAC-Bayes block's numbers reach runs.csv and read back the same."""

from __future__ import annotations

import csv

from test_collect import write_result

from lpg_meta.report import load_results, write_tidy

BLOCK = {"bound": 0.75, "kl": 1234.5, "kl_term": 0.61, "sigma": 0.0316, "train_error": 0.02, "mc_train_error": 0.08,
         "mc_train_error_upper": 0.15, "n": 2880, "delta": 0.05, "mc_samples": 256, "test_error": 0.1,
         "sigma_grid": [0.01, 0.1], "perturbed": {"parameters": 8106}, "labels": "the training labels",
         "seconds": 0.2}


def test_pac_bayes_numbers_are_rows_of_their_own_split(tmp_path):
    root = tmp_path / "results"
    write_result(root, "mnist1d_bal", "ce", 0, pac_bayes=BLOCK)
    write_result(root, "mnist1d_bal", "ce", 1)  # a run without the bound: no such rows
    out = tmp_path / "tidy"
    write_tidy(load_results(root), out)
    rows = [r for r in csv.DictReader((out / "runs.csv").open()) if r["split"] == "pac_bayes"]
    numeric = {k: float(v) for k, v in BLOCK.items() if isinstance(v, (int, float))}
    assert {r["metric"]: float(r["value"]) for r in rows} == numeric
    assert {r["seed"] for r in rows} == {"0"}
    again = load_results(out / "runs.csv")
    assert again.get("mnist1d_bal", "ce", "bound", split="pac_bayes") == {0: 0.75}
    assert again.get("mnist1d_bal", "ce", "kl", split="pac_bayes") == load_results(root).get(
        "mnist1d_bal", "ce", "kl", split="pac_bayes")
