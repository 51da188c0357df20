"""``lpg-meta certify``: runs found, saved or rebuilt weights, resumable CSV, bad input in one line."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from lpg_meta.certify.runs import split_for_prior
from lpg_meta.cli import main
from lpg_meta.config import resolve_config
from lpg_meta.results import CERTIFICATES_NAME
from lpg_meta.train.trainer import train

FAST = ["--steps", "3", "--mc-draws", "4"]


def tiny(method: str, save_model: bool):
    return resolve_config({
        "dataset": "digits", "method": method, "model": "mlp", "seed": 1,
        "train": {"epochs": 2, "batch_size": 128, "max_steps_per_epoch": 3, "eval_batch_size": 256,
                  "threads": 1, "progress": "none", "save_model": save_model},
    })


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two runs on one row: la with saved weights (a prediction-time adjustment too), ce without."""
    root = tmp_path_factory.mktemp("results")
    for method, save in (("la", True), ("ce", False)):
        folder = root / "digits_row" / method / "seed1"
        train(tiny(method, save), out_dir=folder)
    return root


def rows(root: Path) -> list[dict[str, str]]:
    with (root / CERTIFICATES_NAME).open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_certify_writes_a_row_per_run_and_resumes(results: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["certify", str(results), *FAST]) == 0
    first = rows(results)
    assert sorted((r["method"], r["weights"]) for r in first) == [("ce", "rebuilt"), ("la", "saved")]
    rebuilt = next(r for r in first if r["method"] == "ce")
    assert float(rebuilt["rebuilt_accuracy_diff"]) == 0.0  # training again reproduced the recorded run
    for r in first:
        assert 0 <= float(r["mc_train_error"]) <= float(r["mc_train_error_upper"]) <= float(r["certificate"]) <= 1
        assert int(r["n"]) > 0 and float(r["kl"]) >= 0
    capsys.readouterr()
    assert main(["certify", str(results), *FAST]) == 0  # nothing left to do: the file is unchanged
    assert "0 to certify" in capsys.readouterr().err
    assert rows(results) == first
    assert not list(results.glob(f".{CERTIFICATES_NAME}.*.tmp"))


def test_data_variant_certifies_on_the_held_out_half(results: Path) -> None:
    assert main(["certify", str(results), "--methods", "la", "--variants", "data", *FAST]) == 0
    init, data = (next(r for r in rows(results) if (r["method"], r["variant"]) == ("la", v)) for v in ("init", "data"))
    prior, bound = split_for_prior(int(init["n"]), 1)
    assert int(data["n"]) == len(bound) == int(init["n"]) - len(prior)
    assert set(prior.tolist()).isdisjoint(bound.tolist())


@pytest.mark.parametrize("argv, message", [
    (["certify", "{root}/nowhere"], "does not exist"),
    (["certify", "{root}", "--methods", "lq"], "Did you mean 'la'?"),
    (["certify", "{root}", "--rows", "digit_row"], "no run of 'digit_row'"),
    (["certify", "{root}", "--seeds", "7"], "no run of 7"),
    (["certify", "{root}", "--steps", "0"], "--steps must be at least 1"),
])
def test_bad_input_is_one_line_and_exit_2(results: Path, capsys: pytest.CaptureFixture, argv: list[str],
                                          message: str) -> None:
    assert main([a.format(root=results) for a in argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
