"""The suite runner: results everywhere, nothing twice, only what changed, same numbers every time."""

import copy
import json
import shutil
import subprocess
import sys
import time
from collections import Counter

import optuna
import pytest
import yaml

from lpg_meta.bench import make_plan, run_suite, storage, tuning, units
from lpg_meta.bench.storage import RunStore
from lpg_meta.catalog import method_defaults
from lpg_meta.config import OPTIM_DEFAULTS
from lpg_meta.errors import UserError
from lpg_meta.report import leaderboard

TINY = {
    "suite": "tiny",
    "defaults": {"data": {"num_samples": 600}, "train": {"epochs": 2, "batch_size": 32}},
    "datasets": {"lt": {"source": "mnist1d", "imbalance": 3, "meta_per_class": 5}},
    "methods": {
        "ce": {},
        "lpg_scale": {"params": {"meta_batch_size": 20},
                      "tune": {"eps": ["log", 0.01, 0.9], "optim.lr": ["log", 0.01, 0.3]}},
    },
    "seeds": [0, 1],
    "tuning": {"trials": 2},
}
# The untuned values of the tuned settings: the first trial of every study runs them.
DEFAULTS = {"eps": method_defaults("lpg_scale")["eps"], "optim.lr": OPTIM_DEFAULTS["lr"]}
RUNS = [f"lt/{m}/seed{s}" for m in ("ce", "lpg_scale") for s in (0, 1)]


def write_suite(folder, data=TINY):
    data = {**copy.deepcopy(data), "output": str(folder / "out")}
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def results(folder):
    return {str(p.parent.relative_to(folder / "out")): json.loads(p.read_text())
            for p in sorted((folder / "out").glob("*/*/seed*/result.json"))}


def mtimes(folder):
    return {str(p): p.stat().st_mtime_ns for p in (folder / "out").glob("*/*/seed*/result.json")}


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    """One full run of the tiny suite, shared read-only; tests that change it work on a copy."""
    folder = tmp_path_factory.mktemp("first")
    summary = run_suite(write_suite(folder))
    return folder, summary


def copy_of(first, tmp_path):
    shutil.copytree(first[0] / "out", tmp_path / "out")
    return tmp_path


def test_run_writes_every_result_with_its_suite_record(first):
    folder, summary = first
    found = results(folder)
    assert sorted(found) == RUNS
    assert summary["trained"] == 4 and summary["trials_run"] == 2
    lpg = found["lt/lpg_scale/seed1"]
    block = lpg["suite"]
    assert (block["name"], block["dataset_row"], block["method_row"]) == ("tiny", "lt", "lpg_scale")
    assert set(block["tuned_params"]) == {"eps", "optim.lr"} and block["study_name"].startswith("tiny.lt.lpg_scale.")
    assert lpg["config"]["method_params"]["eps"] == block["tuned_params"]["eps"]
    assert lpg["config"]["optim"]["lr"] == block["tuned_params"]["optim.lr"]
    assert found["lt/ce/seed0"]["suite"]["tuned_params"] == {} and found["lt/ce/seed0"]["suite"]["study_name"] is None
    log = (folder / "out/lt/ce/seed0/train.log").read_text()
    assert "epoch 2/2" in log  # the trainer's epoch lines go to the run's log
    assert len(list((folder / "out/lt/lpg_scale/tuning").glob("trial*.log"))) == 2
    assert not list((folder / "out").rglob("*.tmp"))  # no temp file of an atomic write is left


def test_no_seeded_result_is_a_tuning_trials(first):
    """Trials train on the tuning seed only: no seeded result shares a trial's config, seed, numbers or data."""
    from lpg_meta.bench.cells import config_hash
    from lpg_meta.data import build_data

    folder, summary = first
    trials = [json.loads(p.read_text()) for p in sorted((folder / "out").glob("*/*/tuning/trial*_seed*.json"))]
    assert len(trials) == 2  # lt/lpg_scale's 2 trials, one tuning seed each
    assert {t["seed"] for t in trials} == {t["config"]["seed"] for t in trials} == {1000}  # the default
    seeded = results(folder)
    for name, result in seeded.items():
        assert result["seed"] in (0, 1), name
        assert "re-used" not in (folder / "out" / name / "train.log").read_text()
        for trial in trials:
            assert config_hash(result["config"]) != config_hash(trial["config"]), name
            assert result["metrics"] != trial["metrics"] and result["history"] != trial["history"], name
    # The tuning seed draws its own split: no meta, validation or training set equals an evaluation seed's.
    cfg = seeded["lt/lpg_scale/seed0"]["config"]
    tune = build_data(cfg["dataset"], cfg["data"], 1000)
    for seed in (0, 1):
        evaluated = build_data(cfg["dataset"], cfg["data"], seed)
        for split in ("train", "meta", "val"):
            assert set(getattr(tune, split).index.tolist()) != set(getattr(evaluated, split).index.tolist())
    # The chosen values are the same for every seed: seeds 0 and 1 are trained alike.
    tuned = summary["cells"][1]["tuned_params"]
    assert all(seeded[f"lt/lpg_scale/seed{s}"]["suite"]["tuned_params"] == tuned for s in (0, 1))


def test_trials_average_over_several_tuning_seeds(tmp_path):
    suite = {**copy.deepcopy(TINY), "seeds": [0], "tuning": {"trials": 2, "seeds": [5, 6], "last_epochs": 1}}
    summary = run_suite(write_suite(tmp_path, suite), only="lt/lpg_scale")
    plan = make_plan(tmp_path / "suite.yaml")
    study = optuna.load_study(study_name=summary["cells"][0]["study"], storage=tuning.open_storage(plan.storage))
    for trial in study.trials:
        runs = [json.loads((tmp_path / f"out/lt/lpg_scale/tuning/trial{trial.number:03d}_seed{s}.json").read_text())
                for s in (5, 6)]
        assert [r["seed"] for r in runs] == [5, 6]
        assert sorted(trial.intermediate_values) == [0, 1, 2, 3]  # seed 5's two epochs, then seed 6's
        last = [r["metrics"]["val"]["balanced_accuracy"] for r in runs]
        images = runs[0]["metrics"]["val"]["num_samples"]
        assert trial.user_attrs["score_measurements"] == 2
        assert trial.user_attrs["score_units"] == round(sum(last) * images)
        assert trial.value == pytest.approx(sum(last) / 2, abs=0.5 / images)


def test_first_trial_runs_the_default_params(first):
    folder, summary = first
    journal = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(folder / "out" / "optuna.journal")))
    study = optuna.load_study(study_name=summary["cells"][1]["study"], storage=journal)
    trials = sorted(study.trials, key=lambda t: t.number)
    assert len(trials) == 2 and trials[0].params == DEFAULTS
    assert all(t.state.name == "COMPLETE" for t in trials)
    assert len(trials[0].intermediate_values) == 2  # one validation report per epoch


def test_second_run_trains_nothing(first):
    folder, _ = first
    before = mtimes(folder)
    summary = run_suite(folder / "suite.yaml")
    assert summary["trained"] == 0 and summary["trials_run"] == 0 and summary["skipped"] == 4
    assert mtimes(folder) == before


def test_runs_from_scratch_are_identical(first, tmp_path):
    run_suite(write_suite(tmp_path))
    a, b = results(first[0]), results(tmp_path)
    for run in RUNS:
        assert a[run]["metrics"] == b[run]["metrics"], run
        assert a[run]["history"] == b[run]["history"], run
        assert a[run]["suite"] == b[run]["suite"], run


def test_changing_one_method_row_reruns_only_that_row(first, tmp_path):
    folder = copy_of(first, tmp_path)
    changed = copy.deepcopy(TINY)
    changed["methods"]["lpg_scale"]["params"]["meta_lr"] = 0.02
    before = mtimes(folder)
    summary = run_suite(write_suite(folder, changed))
    assert summary["trials_run"] == 2 and summary["trained"] == 2
    after = mtimes(folder)
    for path, stamp in before.items():
        assert (after[path] == stamp) == ("/lt/ce/" in path), path
    assert results(folder)["lt/lpg_scale/seed0"]["config"]["method_params"]["meta_lr"] == 0.02


def test_adding_a_method_row_runs_only_the_new_cells(first, tmp_path):
    folder = copy_of(first, tmp_path)
    added = copy.deepcopy(TINY)
    added["methods"]["sam"] = {"tune": False}
    before = mtimes(folder)
    summary = run_suite(write_suite(folder, added))
    assert summary["trained"] == 2 and summary["trials_run"] == 0
    assert {k: v for k, v in mtimes(folder).items() if k in before} == before
    assert sorted(results(folder)) == sorted([*RUNS, "lt/sam/seed0", "lt/sam/seed1"])
    table = leaderboard(folder / "out")
    rows = [line.split("|")[1].strip() for line in table.splitlines()[4:7]]
    assert rows == ["ce", "sam", "lpg_scale"]  # the LPG rows after the others


def test_extra_seeds_run_only_the_new_seeds_with_the_tuned_params(first, tmp_path):
    folder = copy_of(first, tmp_path)
    more = {**copy.deepcopy(TINY), "extra_seeds": {"lt/lpg_*": [3]}}
    before = mtimes(folder)
    assert run_suite(write_suite(folder, more), dry_run=True)["run_equivalents"] == 1
    summary = run_suite(write_suite(folder, more))
    assert summary["trained"] == 1 and summary["trials_run"] == 0  # no retuning
    assert {k: v for k, v in mtimes(folder).items() if k in before} == before
    found = results(folder)
    assert sorted(found) == sorted([*RUNS, "lt/lpg_scale/seed3"])
    tuned = found["lt/lpg_scale/seed0"]["suite"]["tuned_params"]
    assert found["lt/lpg_scale/seed3"]["suite"]["tuned_params"] == tuned
    assert {k: found["lt/lpg_scale/seed3"]["config"]["method_params"][k] for k in ("eps",)} == \
        {"eps": found["lt/lpg_scale/seed0"]["config"]["method_params"]["eps"]}
    cell = next(c for c in summary["cells"] if c["cell"] == "lt/lpg_scale")
    assert [r["seed"] for r in cell["runs"]] == [0, 1, 3]


def test_dry_run_lists_cells_and_writes_nothing(first, tmp_path):
    fresh = run_suite(write_suite(tmp_path), dry_run=True)
    assert not (tmp_path / "out").exists()
    rows = {r["cell"]: r for r in fresh["cells"]}
    assert rows["lt/ce"]["trials_left"] == 0 and rows["lt/ce"]["seeds_left"] == 2
    # 2 trials on the tuning seed + seeds 0 and 1 (no seed re-uses a trial)
    assert rows["lt/lpg_scale"]["trials_left"] == 2 and rows["lt/lpg_scale"]["run_equivalents"] == 4
    assert fresh["run_equivalents"] == 6 and fresh["seconds"] > 0
    assert fresh["seeds"]["n"] == 2 and fresh["seeds"]["tuning_seeds"] == [1000]
    two = {**copy.deepcopy(TINY), "tuning": {"trials": 2, "seeds": [5, 6]}}
    assert run_suite(write_suite(tmp_path, two), dry_run=True)["run_equivalents"] == 8  # 2 trials x 2 seeds
    done = run_suite(first[0] / "suite.yaml", dry_run=True)
    assert done["run_equivalents"] == 0


def test_only_runs_matching_cells(tmp_path):
    summary = run_suite(write_suite(tmp_path), only="lt/c*")
    assert [c["cell"] for c in summary["cells"]] == ["lt/ce"]
    assert sorted(results(tmp_path)) == ["lt/ce/seed0", "lt/ce/seed1"]


def test_two_workers_run_each_unit_once(tmp_path):
    summary = run_suite(write_suite(tmp_path), workers=2)
    assert sorted(results(tmp_path)) == RUNS
    assert summary["trained"] == 4  # counted per training: a run trained twice would make this 5+
    assert summary["trials_run"] == 2  # a trial raced past the budget is given up untrained


def dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_more_trials_continue_the_study(first, tmp_path):
    folder = copy_of(first, tmp_path)
    more = copy.deepcopy(TINY)
    more["tuning"]["trials"] = 3
    summary = run_suite(write_suite(folder, more))
    assert summary["trials_run"] == 1 and summary["cells"][1]["trials_finished"] == 3


def test_a_dead_workers_trial_is_failed_and_the_defaults_still_run(tmp_path):
    path = write_suite(tmp_path)
    plan = make_plan(path, only="lt/lpg*")
    study = tuning.get_study(plan.cells[0], plan.suite.tuning, RunStore(plan.storage), create=True)
    orphan = study.ask()  # takes the enqueued default trial, then its worker "dies"
    orphan.set_user_attr("pid", dead_pid())
    summary = run_suite(path, only="lt/lpg*")
    assert summary["trials_run"] == 2
    states = {t.number: t.state.name for t in study.get_trials()}
    assert states == {0: "FAIL", 1: "COMPLETE", 2: "COMPLETE"}
    assert study.trials[1].params == DEFAULTS  # re-enqueued, and taken before a new trial


def test_a_diverged_run_is_recorded_and_not_retried(tmp_path):
    suite = {**copy.deepcopy(TINY), "methods": {"ce": {}}, "seeds": [0]}
    suite["datasets"]["lt"]["optim"] = {"lr": 1e6}
    path = write_suite(tmp_path, suite)
    assert run_suite(path)["cells"][0]["runs"][0]["status"] == "diverged"
    result = results(tmp_path)["lt/ce/seed0"]
    assert "diverged at epoch 1" in result["error"] and result["failure"]["reason"] == "diverged"
    assert run_suite(path)["trained"] == 0


def test_cli_dry_run_prints_cells_and_the_estimate(tmp_path, capsys):
    import argparse

    from lpg_meta.bench import add_run_parser, cmd_run

    parser = argparse.ArgumentParser()
    add_run_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["run", str(write_suite(tmp_path)), "--dry-run", "--only", "lt/*"])
    assert cmd_run(args) == 0
    out = capsys.readouterr().out
    assert "lt/lpg_scale" in out and "run-equivalents" in out and not (tmp_path / "out").exists()


def test_diverged_trials_fail_count_toward_the_budget_and_the_suite_goes_on(tmp_path):
    suite = {**copy.deepcopy(TINY), "seeds": [0]}
    suite["methods"]["lpg_scale"]["tune"] = {"eps": ["log", 0.01, 0.9]}
    suite["datasets"]["lt"]["optim"] = {"lr": 1e6}  # every trial and run diverges
    summary = run_suite(write_suite(tmp_path, suite))
    assert summary["trials_run"] == 2 and summary["trained"] == 2
    cell = summary["cells"][1]
    assert cell["trials_finished"] == 2 and cell["best_trial"] is None  # never best
    plan = make_plan(tmp_path / "suite.yaml")
    study = optuna.load_study(study_name=cell["study"], storage=tuning.open_storage(plan.storage))
    assert [(t.state.name, t.user_attrs["reason"], t.user_attrs["epoch"]) for t in study.trials] == [
        ("FAIL", "diverged", 1)] * 2
    runs = units.get_runs_study(plan.cells[0], {}, plan.suite.tuning, RunStore(plan.storage))
    assert [(t.state.name, t.user_attrs["reason"]) for t in runs.trials] == [("FAIL", "diverged")]
    assert run_suite(tmp_path / "suite.yaml")["trials_run"] == 0  # not retried


def test_a_dead_workers_run_is_retried_once(tmp_path):
    path = write_suite(tmp_path)
    plan = make_plan(path, only="lt/ce")
    runs = units.get_runs_study(plan.cells[0], {}, plan.suite.tuning, RunStore(plan.storage))
    units.enqueue_missing(runs, [0, 1])
    orphan, seed = units.take(runs)  # its worker then "dies" mid-run
    orphan.set_user_attr("pid", dead_pid())
    summary = run_suite(path, only="lt/ce")
    assert summary["trained"] == 2 and sorted(results(tmp_path)) == ["lt/ce/seed0", "lt/ce/seed1"]
    trials = runs.get_trials()
    assert Counter(t.user_attrs["seed"] for t in trials if t.state.name == "COMPLETE") == {0: 1, 1: 1}
    assert trials[orphan.number].state.name == "FAIL" and seed == 0


def test_duplicate_copies_of_a_seed_run_once(tmp_path):
    plan = make_plan(write_suite(tmp_path), only="lt/ce")
    runs = units.get_runs_study(plan.cells[0], {}, plan.suite.tuning, RunStore(plan.storage))
    for _ in range(2):  # two workers enqueued the missing seeds at the same time
        runs.enqueue_trial({"seed": 0}, user_attrs={"seed": 0})
    first_, second = units.take(runs), units.take(runs)
    assert first_ is not None and first_[1] == 0 and second is None  # the later copy is given up
    assert runs.trials[1].user_attrs["reason"] == "duplicate"


def test_dry_run_on_a_new_sqlite_storage_creates_no_file(tmp_path):
    summary = run_suite(write_suite(tmp_path), storage=f"sqlite:///{tmp_path}/new.db", dry_run=True)
    assert summary["dry_run"] and len(summary["cells"]) == 2
    assert not (tmp_path / "new.db").exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("url, message", [
    ("mongodb://host/db", "unknown database scheme"),
    ("postgresql://nobody@127.0.0.1:1/none", "cannot open the database"),
])
def test_a_bad_storage_url_is_a_user_error(url, message):
    # run_suite's preflight reports these first (tests/cli/test_bad_input.py); a worker that
    # opens the storage later (a database gone mid-run) still gets a UserError, not a traceback.
    with pytest.raises(UserError, match=message):
        storage.open_storage(url)


def test_two_workers_on_sqlite_run_each_unit_once(tmp_path):
    summary = run_suite(write_suite(tmp_path), workers=2, storage=f"sqlite:///{tmp_path}/optuna.db")
    assert sorted(results(tmp_path)) == RUNS
    assert summary["trained"] == 4 and summary["trials_run"] == 2


def test_a_unit_whose_heartbeat_stops_is_retried_and_a_beating_one_is_not(tmp_path, monkeypatch):
    from lpg_meta.bench import storage

    monkeypatch.setattr(storage, "HEARTBEAT_S", 1)
    monkeypatch.setattr(storage, "GRACE_S", 2)
    db = storage.open_storage(f"sqlite:///{tmp_path}/hb.db")
    study = optuna.create_study(study_name="hb", storage=db)
    silent, beating = storage.ask(study), storage.ask(study)
    for trial in (silent, beating):
        trial.suggest_float("x", 0, 1)
        trial.set_user_attr("host", "another-machine")  # its pid means nothing here
    with storage.heartbeat(beating):
        time.sleep(4)  # past the grace period for the silent one only
        storage.fail_stale(study)
    states = [(t.state.name, t.params) for t in study.get_trials()]
    assert states[0] == ("FAIL", silent.params) and states[1] == ("RUNNING", beating.params)
    assert states[2] == ("WAITING", silent.params)  # enqueued again by the retry callback


def drawn_params(folder):
    """Each tuning study's trial parameters, by cell: ``{"lt/lpg_scale": [params of trial 0, ...]}``."""
    spec = str(folder / "out" / "optuna.journal")
    store = storage.open_storage(spec)
    out = {}
    for summary in optuna.get_all_study_summaries(store):
        if not summary.study_name.endswith(".runs"):
            study = optuna.load_study(study_name=summary.study_name, storage=store)
            out[study.user_attrs["cell"]] = [t.params for t in study.get_trials(deepcopy=False)]
    return out


def test_each_cell_draws_its_own_trials_and_a_rerun_draws_the_same(tmp_path):
    # Two rows alike in all but their names: only the cell's seeding can make their draws differ.
    suite = copy.deepcopy(TINY)
    suite["datasets"]["lt_copy"] = copy.deepcopy(suite["datasets"]["lt"])
    suite["methods"] = {"lpg_scale": suite["methods"]["lpg_scale"]}
    suite["defaults"]["train"]["epochs"] = 1
    suite["seeds"] = [0]
    draws = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        run_suite(write_suite(tmp_path / name, suite))
        draws.append(drawn_params(tmp_path / name))
    assert draws[0] == draws[1]  # a re-run from scratch draws the same trials
    lt, lt_copy = draws[0]["lt/lpg_scale"], draws[0]["lt_copy/lpg_scale"]
    assert lt[0] == lt_copy[0] == DEFAULTS  # trial 0: the untuned values on both rows
    assert lt[1] != lt_copy[1]  # the random draw differs between cells
