"""The dry run's time: training steps plus each run's start-up and evaluation, and the suite's start-up and report."""

from __future__ import annotations

import pytest
import yaml
from suite_kit import tiny_suite

from lpg_meta.bench import estimate, make_plan, run_suite


def test_suite_seconds_by_hand(monkeypatch) -> None:
    monkeypatch.setattr(estimate, "PROCESS_START_SECONDS", 5.0)
    monkeypatch.setattr(estimate, "REPORT_SECONDS", 3.0)
    monkeypatch.setattr(estimate, "REPORT_SECONDS_PER_RUN", 0.5)
    rows = [{"seconds": 100.0, "run_equivalents": 4}, {"seconds": 20.0, "run_equivalents": 1},
            {"seconds": None, "run_equivalents": 2}]
    # 5 + 2 (data) + 120 / 2 + 3 + 0.5 * 10 = 75
    assert estimate.suite_seconds(rows, 2, 2.0, 10) == {"work": 120.0, "start": 7.0, "report": 8.0, "total": 75.0}
    # Everything done: the imports and the report are left, not the data.
    done = [{"seconds": 0.0, "run_equivalents": 0}]
    assert estimate.suite_seconds(done, 1, 2.0, 10)["total"] == 5.0 + 8.0
    assert estimate.suite_seconds(done, 1, 2.0, 0)["report"] == 0.0  # --only: no report


@pytest.fixture
def plan(tmp_path):
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(tiny_suite("est", epochs=3) | {"output": str(tmp_path / "out")}))
    return make_plan(path)


def test_a_cells_seconds_add_start_up_and_evaluation(plan, monkeypatch) -> None:
    monkeypatch.setattr(estimate, "STEP_SECONDS", 0.01)
    monkeypatch.setattr(estimate, "RUN_START_SECONDS", 2.0)
    cell = next(c for c in plan.cells if c.name == "lt/ce")
    cache: dict = {}
    row = estimate.estimate_cell(cell, 1, 2, 0, plan.output, cache)
    data = cache["steps"]["lt"]
    assert data["eval_samples"] > 0 and data["steps"] == row["steps_per_epoch"]
    step = 0.01 * 32 / 128  # 10 ms a step at the reference batch 128, scaled to the suite's batch 32
    train = 3 * 3 * data["steps"] * step  # 3 run-equivalents x 3 epochs x steps (ce: x1)
    evaluation = 3 * 3 * data["eval_samples"] * step / 32 / 3  # a third of a training sample each
    assert row["seconds"] == pytest.approx(train + 3 * 2.0 + evaluation)


def test_measured_seconds_per_step_already_hold_start_up(plan, monkeypatch) -> None:
    monkeypatch.setattr(estimate, "measured_step_seconds", lambda output, row: 0.02)
    cell = next(c for c in plan.cells if c.name == "lt/ce")
    row = estimate.estimate_cell(cell, 0, 1, 0, plan.output, {})
    assert row["seconds"] == pytest.approx(3 * row["steps_per_epoch"] * 0.02)


def test_the_dry_run_total_shares_the_work_between_workers(plan) -> None:
    one = run_suite(plan.suite.path, dry_run=True, workers=1)
    two = run_suite(plan.suite.path, dry_run=True, workers=2)
    assert one["seconds_work"] == pytest.approx(two["seconds_work"])
    assert two["seconds"] == pytest.approx(two["seconds_start"] + two["seconds_work"] / 2 + two["seconds_report"])
    assert one["seconds_report"] == pytest.approx(estimate.REPORT_SECONDS + 4 * estimate.REPORT_SECONDS_PER_RUN)
    assert run_suite(plan.suite.path, dry_run=True, only="lt/ce")["seconds_report"] == 0.0
