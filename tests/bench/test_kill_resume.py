"""SIGKILL workers mid-tuning, mid-training and mid-write: the suite still ends as if never killed."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.storages.journal import JournalFileBackend
from suite_kit import tiny_suite

from lpg_meta.bench import run_suite
from lpg_meta.bench.layout import suite_spec
from lpg_meta.report import leaderboard

SUITE = tiny_suite("kr", epochs=3)
RUNS = [f"lt/{m}/seed{s}" for m in ("ce", "lpg_scale") for s in (0, 1)]
# 11 kills in all. Cells run in order (ce's seeds, then lpg_scale's trials, then its seeds), and a kill only
# loses the unit it hits, so each phase is still ahead when its kills come.
PLANS = {
    1: ["train", "write", "tune", "tune", "train", "write", "write"],
    2: ["write", "tune", "train", "write"],
}
SLOW_S = "0.2"  # the pause after each epoch and before each result's rename (test hook)
SLOW_CHILDREN = Path(__file__).with_name("slow_children")


def write_suite(folder):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump({**SUITE, "output": str(folder / "out")}, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run: its tables and per-run metrics."""
    folder = tmp_path_factory.mktemp("reference")
    run_suite(write_suite(folder))
    return tables(folder / "out"), metrics(folder / "out")


def tables(out):
    # The suite's layout in both: a CLI run leaves it in out/runs.json, run_suite alone does not.
    spec = suite_spec(out.parent / "suite.yaml")
    return {fmt: leaderboard(out, fmt, spec=spec) for fmt in ("md", "csv")}


def metrics(out):
    return {run: json.loads((out / run / "result.json").read_text())["metrics"] for run in RUNS}


def start(path, log):
    # slow_children/sitecustomize.py pauses the children (and only them) at the kill points
    paths = [str(SLOW_CHILDREN), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "LPG_TEST_SLOW_S": SLOW_S, "PYTHONPATH": os.pathsep.join(paths)}
    return subprocess.Popen([sys.executable, "-m", "lpg_meta.cli", "run", str(path)], env=env,
                            stdout=log, stderr=subprocess.STDOUT)


def marker(out, phase, since_ns, seen):
    """A file showing some worker in ``phase`` now (created after ``since_ns``), or None."""
    if phase == "write":
        fresh = [p for p in out.glob("*/*/seed*/.result.json.*.tmp") if p not in seen]
    else:
        pattern = "*/*/tuning/trial*.log" if phase == "tune" else "*/*/seed*/train.log"
        fresh = []
        for p in out.glob(pattern):
            try:
                text = p.read_text()
                if p.stat().st_mtime_ns > since_ns and "epoch 1/" in text and "epoch 3/3" not in text:
                    fresh.append(p)  # training has started and is not over (3 epochs)
            except FileNotFoundError:
                continue
    return fresh[0] if fresh else None


def owner(out, path, storage):
    """The pid the storage records for the RUNNING unit that ``path`` belongs to."""
    rel = path.relative_to(out).parts
    prefix = f"kr.{rel[0]}.{rel[1]}."
    for name in optuna.get_all_study_names(storage):
        if not name.startswith(prefix) or name.endswith(".runs") == (rel[2] == "tuning"):
            continue
        for trial in optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False):
            if trial.state.name != "RUNNING":
                continue
            if (rel[2] == "tuning" and rel[3] == f"trial{trial.number:03d}.log") or \
                    (rel[2] != "tuning" and rel[2] == f"seed{trial.user_attrs.get('seed')}"):
                return trial.user_attrs["pid"]
    return None


def kill_during(out, phase, procs, rng, seen):
    """Wait until a worker is in ``phase``, SIGKILL it there, and check that it was."""
    since = time.time_ns()
    deadline = time.monotonic() + 60
    storage = None  # opened once the journal exists; it then reads only what was appended
    while True:
        path = marker(out, phase, since, seen)
        if path is not None and storage is None:
            storage = optuna.storages.JournalStorage(JournalFileBackend(str(out / "optuna.journal")))
        pid = owner(out, path, storage) if path is not None else None
        if pid is not None:
            break
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs), \
            f"no worker reached phase {phase}"
        time.sleep(0.02)
    if phase != "write":
        time.sleep(rng.uniform(0.0, 0.15))  # somewhere in the epochs left
    victim = next(p for p in procs if p.pid == pid)
    os.kill(pid, signal.SIGKILL)
    victim.wait()
    seen.add(path)
    if phase == "write":
        assert path.exists()  # killed before the rename: the temp file is all that was written
    else:
        assert "epoch 3/3" not in path.read_text(), f"killed after {phase} ended"
    return procs.index(victim)


@pytest.mark.parametrize("workers", [1, 2])
def test_killed_workers_resume_to_the_uninterrupted_result(workers, reference, tmp_path):
    path = write_suite(tmp_path)
    out = tmp_path / "out"
    rng = random.Random(workers)
    with open(tmp_path / "workers.log", "w") as log:
        procs = [start(path, log) for _ in range(workers)]
        seen: set[Path] = set()
        for phase in PLANS[workers]:
            slot = kill_during(out, phase, procs, rng, seen)
            procs[slot] = start(path, log)  # the restarted worker takes over the dead unit
        codes = [p.wait(timeout=240) for p in procs]
    assert codes == [0] * workers, (tmp_path / "workers.log").read_text()[-3000:]

    found = sorted(str(p.parent.relative_to(out)) for p in out.glob("*/*/seed*/result.json"))
    assert found == RUNS  # every result present, each once, each parses (below)
    assert not list(out.rglob("*.tmp"))  # temp files of killed writes were cleaned up
    assert metrics(out) == reference[1] and tables(out) == reference[0]

    storage = optuna.storages.JournalStorage(JournalFileBackend(str(out / "optuna.journal")))
    killed = 0
    for name in optuna.get_all_study_names(storage):
        trials = optuna.load_study(study_name=name, storage=storage).get_trials()
        assert not [t for t in trials if t.state.name in ("RUNNING", "WAITING")], name
        killed += sum(t.state.name == "FAIL" and "reason" not in t.user_attrs for t in trials)
        if name.endswith(".runs"):
            done = Counter(t.user_attrs["seed"] for t in trials if t.state.name == "COMPLETE")
            assert done == {0: 1, 1: 1}, name
        else:
            assert sum(t.state.name == "COMPLETE" for t in trials) == 2, name
    # Every kill left a dead unit that was failed, and retried, by a later worker.
    assert killed == len(PLANS[workers])
