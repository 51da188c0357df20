"""SIGKILL runs at seeded random points, resume each time: the result equals the uninterrupted run's.

Each method's run is killed 4 times (24 kills in all): before a training step, inside an
evaluation, or inside a checkpoint write (the temporary file written, not renamed), each at a
point drawn by a seeded RNG from the events the run has left. Half the methods checkpoint at
epoch ends only, half after every step too (``checkpoint_minutes`` ~ 0), so kills land between
mid-epoch checkpoints as well. The children are forked by ``kill_children/zygote.py`` (one
interpreter for all runs: a few seconds in all).
"""

import json
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lpg_meta.config import resolve_config
from lpg_meta.data import build_data
from lpg_meta.results import config_hash
from lpg_meta.train.trainer import steps_in_epoch

ZYGOTE = Path(__file__).with_name("kill_children") / "zygote.py"
EPOCHS, MAX_STEPS, KILLS = 3, 5, 4
# method -> checkpoints at epoch ends only ("epoch") or after every step too ("step")
MODES = {"ce": "step", "lpg": "epoch", "lpg+sam": "step", "mwnet": "epoch", "ldam_drw": "step",
         "lpg_rule": "epoch"}


def config(method, checkpoints):
    every, minutes = {"none": (0, 0.0), "epoch": (1, 0.0), "step": (1, 1e-9)}[checkpoints]
    return resolve_config({
        "dataset": "digits", "method": method, "model": "mlp", "seed": 3,
        "train": {"epochs": EPOCHS, "batch_size": 128, "max_steps_per_epoch": MAX_STEPS, "eval_batch_size": 256,
                  "threads": 1, "progress": "none", "checkpoint_every": every, "checkpoint_minutes": minutes,
                  "checkpoint_budget": None},  # every due checkpoint written: kill points are exact
    })


def events(state, steps, mode):
    """The events a process resumed at ``state`` (epoch, steps done in it) goes through, in order;
    a checkpoint write carries the state it saves."""
    epoch, done = state
    out = []
    while epoch < EPOCHS:
        for k in range(done, steps):
            out.append(("step", None))
            if mode == "step":
                out.append(("write", (epoch, k + 1)))
        out += [("eval", None), ("eval", None)]  # validation, then test
        epoch, done = epoch + 1, 0
        out.append(("write", (epoch, 0)))
    return out


def kill_plan(rng, steps, mode):
    """``KILLS`` kill points ``(phase, n)``: the n-th event of ``phase`` in that process's life."""
    state, plan = (0, 0), []
    for _ in range(KILLS):
        todo = events(state, steps, mode)
        phase = rng.choice(sorted({p for p, _ in todo}))
        at = rng.choice([i for i, (p, _) in enumerate(todo) if p == phase])
        plan.append((phase, sum(p == phase for p, _ in todo[: at + 1])))
        written = [saved for p, saved in todo[:at] if p == "write"]
        state = written[-1] if written else state
    return plan


def strip_timing(value):
    """``value`` without timing (``timing``, ``time_*_s``) and provenance, which differ run to run."""
    if isinstance(value, dict):
        return {k: strip_timing(v) for k, v in value.items()
                if k not in ("timing", "provenance") and not k.startswith("time_")}
    if isinstance(value, list):
        return [strip_timing(v) for v in value]
    return value


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every method: its uninterrupted run, then its killed-and-resumed run, in one zygote."""
    root = tmp_path_factory.mktemp("kill")
    rng = random.Random(16)
    jobs, plans = [], {}
    for method, mode in MODES.items():
        cfg = config(method, mode)
        bundle = build_data(cfg["dataset"], cfg["data"], cfg["seed"])
        steps = min(MAX_STEPS, steps_in_epoch(len(bundle.train.y), cfg["train"]["batch_size"]))
        plans[method] = kill_plan(rng, steps, mode)
        jobs.append({"cfg": config(method, "none"), "out": str(root / method / "reference"), "kill": None})
        jobs += [{"cfg": cfg, "out": str(root / method / "killed"), "kill": kill} for kill in plans[method]]
        jobs.append({"cfg": cfg, "out": str(root / method / "killed"), "kill": None})
    (root / "jobs.json").write_text(json.dumps(jobs))
    done = subprocess.run([sys.executable, str(ZYGOTE), str(root / "jobs.json"), str(root / "status.json")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    statuses = json.loads((root / "status.json").read_text())
    return root, plans, statuses, done.stderr


def test_the_plan_hits_every_phase_and_enough_kills(runs):
    _, plans, _, _ = runs
    kills = [kill for plan in plans.values() for kill in plan]
    assert len(kills) >= 20
    assert {phase for phase, _ in kills} == {"step", "eval", "write"}


@pytest.mark.parametrize("method", list(MODES))
def test_killed_and_resumed_run_equals_the_uninterrupted_one(runs, method):
    root, plans, statuses, log = runs
    index = list(MODES).index(method) * (KILLS + 2)
    assert statuses[index] == 0, log[-3000:]  # the reference
    # every planned kill happened (a run that finished instead would hide a missed kill point)
    assert statuses[index + 1 : index + 1 + KILLS] == [-signal.SIGKILL] * KILLS, (plans[method], log[-3000:])
    assert statuses[index + 1 + KILLS] == 0, log[-3000:]
    reference = json.loads((root / method / "reference" / "result.json").read_text())
    killed_dir = root / method / "killed"
    resumed = json.loads((killed_dir / "result.json").read_text())
    assert resumed["metrics"] == reference["metrics"]
    assert resumed["history"] == reference["history"]
    # Only the checkpoint settings differ (the reference took none), and they are not identity.
    assert config_hash(resumed.pop("config")) == config_hash(reference.pop("config"))
    assert strip_timing(resumed) == strip_timing(reference)
    assert [r["epoch"] for r in resumed["history"]] == list(range(1, EPOCHS + 1))  # no epoch twice
    assert sorted(p.name for p in killed_dir.iterdir()) == ["result.json"]  # no temp file, no checkpoint
