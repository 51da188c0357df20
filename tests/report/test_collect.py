"""Loading result folders, and the published numbers as data.

Also holds the result-file factory the other report tests import (``from test_collect import ...``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lpg_meta.errors import UserError
from lpg_meta.report.collect import group_runs, load_runs, mean_std
from lpg_meta.report.published import PUBLISHED, lookup, protocol_of

SHOT_KEYS = ("many_shot", "medium_shot", "few_shot")


def make_result(*, dataset: str = "mnist1d", method: str = "ce", seed: int = 0, balanced: float = 0.8,
                accuracy: float | None = None, imbalance: float = 1.0, noise: str = "none",
                noise_rate: float = 0.0, per_class: list[float] | None = None,
                train_counts: list[int] | None = None, shots: tuple = (None, None, None),
                trajectory: list[list[float]] | None = None, status: str = "ok",
                failure: dict | None = None, suite: dict | None = None, **extra: Any) -> dict[str, Any]:
    """A valid result.json payload with the given numbers (fractions) and sensible filler."""
    accuracy = balanced if accuracy is None else accuracy
    per_class = per_class or [balanced] * 3
    counts = train_counts or [100] * len(per_class)
    data = {"imbalance": imbalance, "profile": "exp", "n_max": None, "noise": noise, "noise_rate": noise_rate,
            "many_threshold": 100, "few_threshold": 20}
    config = {"dataset": dataset, "method": method, "model": "cnn1d", "seed": seed, "data": data,
              "train": {"epochs": 3}}
    result: dict[str, Any] = {"status": status, "config": config, "seed": seed,
                              "data": {"num_classes": len(per_class), "per_class": {"train": counts}}}
    if status == "ok":
        split = {"accuracy": accuracy, "error": 1 - accuracy, "balanced_accuracy": balanced,
                 "per_class": per_class, "nll": 1 - balanced, "ece": 0.05,
                 **dict(zip(SHOT_KEYS, shots, strict=True))}
        result["metrics"] = {"test": split, "val": dict(split)}
        result["history"] = [{"epoch": e, "train_loss": 1.0 / e, "val_accuracy": accuracy,
                              "val_balanced_accuracy": balanced, "test_accuracy": accuracy,
                              "test_balanced_accuracy": balanced} for e in (1, 2, 3)]
    else:
        result["failure"] = failure or {"reason": "training diverged", "epoch": 2}
    if trajectory is not None:
        result["lpg"] = {"form": "scale", "quantity": "a_c", "trajectory": trajectory,
                         "meta_loss": [0.5] * len(trajectory)}
    if suite is not None:
        result["suite"] = suite
    result.update(extra)
    return result


def write_result(root: Path, dataset_row: str, method_row: str, seed: int, **kwargs: Any) -> Path:
    """Write ``root/dataset_row/method_row/seed<N>/result.json`` from :func:`make_result`."""
    path = root / dataset_row / method_row / f"seed{seed}" / "result.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(make_result(seed=seed, **kwargs), indent=2))
    return path


def test_rows_come_from_folders_and_seeds_sort(tmp_path):
    for seed in (2, 0, 1):
        write_result(tmp_path, "digits", "ce", seed)
    write_result(tmp_path, "digits", "lpg", 0, method="lpg")
    groups = group_runs(load_runs(tmp_path))
    assert list(groups) == [("digits", "ce"), ("digits", "lpg")]
    assert [r.seed for r in groups[("digits", "ce")]] == [0, 1, 2]


def test_suite_names_win_over_folder_names(tmp_path):
    write_result(tmp_path / "nested", "folder_ds", "folder_m", 0,
                 suite={"name": "s", "dataset_row": "lt100", "method_row": "ce_tuned", "tuned_params": {}})
    (run,) = load_runs(tmp_path)
    assert (run.dataset_row, run.method_row, run.seed) == ("lt100", "ce_tuned", 0)


@pytest.mark.parametrize("text", ["{\"status\": \"ok\", \"metr", "", "[1, 2]", "{\"status\": \"ok\"}"])
def test_corrupt_or_half_written_file_names_the_file_and_the_fix(tmp_path, text):
    write_result(tmp_path, "digits", "ce", 0)
    bad = tmp_path / "digits" / "ce" / "seed1" / "result.json"
    bad.parent.mkdir()
    bad.write_text(text)
    with pytest.raises(UserError, match=r"seed1/result\.json.*delete"):
        load_runs(tmp_path)


def test_failed_run_loads_without_metrics(tmp_path):
    write_result(tmp_path, "digits", "ce", 0, status="failed", failure={"reason": "NaN loss", "epoch": 7})
    (run,) = load_runs(tmp_path)
    assert not run.ok and run.failure == ("NaN loss", 7) and run.metric("accuracy") is None


def test_duplicate_seed_and_empty_or_missing_folder_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_runs(tmp_path / "nope")
    with pytest.raises(UserError, match="no result.json"):
        load_runs(tmp_path)
    write_result(tmp_path / "a", "digits", "ce", 0)
    write_result(tmp_path / "b", "digits", "ce", 0)
    with pytest.raises(UserError, match="both digits/ce seed 0"):
        load_runs(tmp_path)


def test_mean_std_uses_the_sample_std():
    mean, std = mean_std([80.0, 90.0])
    assert mean == pytest.approx(85.0) and std == pytest.approx(7.0710678, abs=1e-6)
    assert mean_std([1.0]) == (1.0, None) and mean_std([]) == (None, None)


def test_published_numbers_are_section_7():
    assert len(PUBLISHED) == 24 + 6  # 24 long-tail cells, 6 noisy-label numbers
    entry = lookup("C10-LT 100", "ce")
    assert (entry.value, entry.kind) == (29.64, "error") and "LDAM-DRW" in entry.source
    assert entry.as_metric("accuracy") == pytest.approx(70.36)
    assert entry.as_metric("balanced_accuracy") == pytest.approx(70.36)
    assert entry.as_metric("nll") is None
    assert lookup("C100-LT 10", "lpl").value == 39.03
    assert lookup("C100-LT 100", "lpl+la").value == lookup("C100-LT 100", "la+lpl").value == 53.89
    assert lookup("C10-LT 10", "la") is None  # LA published no C10-LT 10 number
    gce = lookup("C10 sym_incl 40%", "gce")
    assert gce.kind == "accuracy" and gce.as_metric("error") == pytest.approx(12.69)
    assert lookup("C10 sym_incl 40%", "mwnet").value == 86.53  # the primary (CMW-Net) entry


@pytest.mark.parametrize(("dataset", "data", "expected"), [
    ("cifar10", {"imbalance": 100.0, "noise": "none"}, "C10-LT 100"),
    ("cifar100", {"imbalance": 10, "profile": "exp"}, "C100-LT 10"),
    ("cifar10", {"imbalance": 100.0, "profile": "step"}, None),
    ("cifar10", {"imbalance": 100.0, "n_max": 500}, None),
    ("cifar10", {"imbalance": 1.0, "noise": "sym_incl", "noise_rate": 0.4}, "C10 sym_incl 40%"),
    ("cifar10", {"imbalance": 1.0, "noise": "sym_excl", "noise_rate": 0.4}, None),
    ("cifar100", {"imbalance": 1.0, "noise": "sym_incl", "noise_rate": 0.4}, None),
    ("mnist1d", {"imbalance": 100.0}, None),
])
def test_protocol_matching(dataset, data, expected):
    assert protocol_of({"dataset": dataset, "data": data}) == expected
