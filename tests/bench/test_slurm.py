"""The Slurm launcher on submitit's local executor: two array tasks give the results of ``lpg-meta run``."""

import json

import pytest
from suite_kit import tiny_suite, write_suite

from lpg_meta.bench import run_suite
from lpg_meta.bench.layout import suite_spec
from lpg_meta.cli import main
from lpg_meta.report import leaderboard

pytest.importorskip("submitit")
from lpg_meta.bench import slurm  # noqa: E402 - after the skip

SUITE = tiny_suite("slurm", epochs=2)
RUNS = [f"lt/{m}/seed{s}" for m in ("ce", "lpg_scale") for s in (0, 1)]


def test_two_local_array_tasks_give_the_results_of_lpg_meta_run(tmp_path):
    reference = write_suite(tmp_path / "reference", SUITE)
    run_suite(reference)
    path = write_suite(tmp_path / "array", SUITE)
    jobs = slurm.launch(path, "cluster=local,array=2,timeout_min=10")
    done = [job.result() for job in jobs]  # raises if a task failed
    assert sum(d["trained"] for d in done) == 4  # each unit in exactly one task
    assert sum(d["trials_run"] for d in done) == 2
    for run in RUNS:
        a, b = (json.loads((p.parent / "out" / run / "result.json").read_text()) for p in (reference, path))
        assert a["metrics"] == b["metrics"] and a["history"] == b["history"], run
    spec = suite_spec(reference)
    assert leaderboard(tmp_path / "array/out", "md", spec=spec) == leaderboard(tmp_path / "reference/out", "md",
                                                                               spec=spec)


@pytest.mark.parametrize(("options", "message"), [
    ("partition=gpu,gpus_per_tsk=1", "unknown option 'gpus_per_tsk'. Did you mean 'gpus_per_task'?"),
    ("timeout_min=soon", 'timeout_min" expected type'),
    ("array=0", "array=0: the number of tasks must be a positive integer"),
    ("partition", "expected key=value, got 'partition'"),
    ("cluster=pbs", "cluster='pbs': use slurm (the default) or local"),
])
def test_a_bad_slurm_option_exits_2_in_one_line(tmp_path, capsys, options, message):
    path = write_suite(tmp_path, SUITE)
    assert main(["run", str(path), "--slurm", options]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not list((tmp_path / "out").glob("slurm/*"))  # nothing submitted


def test_a_preempted_task_is_submitted_again_with_the_same_arguments():
    args = ("/shared/suite.yaml", "postgresql://db/lpg", None, "/shared/data")
    again = slurm.SuiteWorker().checkpoint(*args)  # what submitit calls on preemption or timeout
    assert isinstance(again.function, slurm.SuiteWorker) and again.args == args
