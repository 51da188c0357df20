"""Seeded runs in optuna-dashboard: per-epoch validation values and test metrics in the runs study."""

import json

import optuna
import pytest
from sqlalchemy import exc
from suite_kit import tiny_suite, write_suite

from lpg_meta.bench import run_suite, storage
from lpg_meta.bench.study_report import EpochReporter

COMPLETE = optuna.trial.TrialState.COMPLETE


def test_each_seeded_run_reports_its_epochs_and_test_metrics_to_its_study(tmp_path):
    path = write_suite(tmp_path, tiny_suite("dash", epochs=2))
    summary = run_suite(path)
    db = storage.open_storage(summary["storage"])
    checked = 0
    for name in optuna.get_all_study_names(db):
        if not name.endswith(".runs"):
            continue
        _, dataset, method, _, _ = name.split(".")  # SUITE.DATASET.METHOD.HASH.runs
        for trial in optuna.load_study(study_name=name, storage=db).get_trials(states=[COMPLETE]):
            seed = trial.user_attrs["seed"]
            result = json.loads((tmp_path / "out" / dataset / method / f"seed{seed}" / "result.json").read_text())
            history = [h["val_balanced_accuracy"] for h in result["history"]]
            assert trial.intermediate_values == dict(enumerate(history)), (name, seed)
            test = {k: v for k, v in result["metrics"]["test"].items() if isinstance(v, int | float)}
            assert {k[5:]: v for k, v in trial.user_attrs.items() if k.startswith("test_")} == test
            checked += 1
    assert checked == 4  # ce's two seeds (trained here) and lpg_scale's (seed 0 re-used from tuning)


class FlakyTrial:
    """A trial whose storage is away for its first ``down`` reports."""

    def __init__(self, down):
        self.down, self.reported, self.user_attrs = down, {}, {}

    def report(self, value, step):
        if self.down:
            self.down -= 1
            raise exc.OperationalError("UPDATE", {}, Exception("server closed the connection unexpectedly"))
        self.reported[step] = value

    def set_user_attr(self, key, value):
        self.user_attrs[key] = value


def test_an_epoch_report_during_an_outage_waits_for_the_next_one_instead_of_stopping_training():
    trial = FlakyTrial(down=2)
    reporter = EpochReporter(trial, "balanced_accuracy")
    reporter(0, {"balanced_accuracy": 0.5})  # the database is away: kept
    reporter(1, {"balanced_accuracy": 0.6})  # still away: kept
    assert trial.reported == {}
    reporter(2, {"balanced_accuracy": 0.7})  # back: all three go
    assert trial.reported == {0: 0.5, 1: 0.6, 2: 0.7}
    reporter.finish({"history": [{"val_balanced_accuracy": 0.5}] * 3, "metrics": {"test": {"accuracy": 0.9}}})
    assert trial.reported == {0: 0.5, 1: 0.6, 2: 0.7} and trial.user_attrs == {"test_accuracy": 0.9}


def test_a_report_error_that_is_not_the_connection_is_raised():
    class Broken(FlakyTrial):
        def report(self, value, step):
            raise ValueError("not a number")

    with pytest.raises(ValueError):
        EpochReporter(Broken(0), "balanced_accuracy")(0, {"balanced_accuracy": 0.5})
