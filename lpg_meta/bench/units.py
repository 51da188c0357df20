"""Seeded-run units: per cell a second study (``....runs``) with one trial per seed.

Once a cell's tuning is over, every worker makes sure each seed has a live trial in the cell's
runs study (WAITING, RUNNING, COMPLETE, or FAIL with ``reason: diverged``) and enqueues the
missing ones (``user_attrs.seed``); workers then pop them with ``ask``, which hands each
WAITING trial to exactly one of them. Two workers may enqueue the same missing seed at
once; of the copies, the lowest-numbered live one is the seed's unit and any other is given
up untrained (FAIL, ``reason: duplicate``) as soon as it is popped. A finished run is
COMPLETE (value: its validation metric); a diverged one FAIL with ``reason: diverged`` and
its epoch, never retried. A dead worker's run is FAIL without a reason and enqueued again.
"""

from __future__ import annotations

from typing import Any, cast

import optuna
from optuna.trial import FrozenTrial, TrialState

from lpg_meta.bench import storage as storage_mod
from lpg_meta.bench.cells import Cell
from lpg_meta.bench.schema import Tuning
from lpg_meta.bench.storage import RunStore
from lpg_meta.bench.tuning import Direction


def get_runs_study(cell: Cell, params: dict[str, Any], tuning: Tuning, store: RunStore) -> optuna.Study:
    """The study of the cell's seeded runs with tuned ``params`` (created if missing)."""
    name = cell.runs_study_name(params)
    if name not in store.studies:
        store.studies[name] = optuna.create_study(study_name=name, storage=store.storage,
                                                  direction=cast(Direction, tuning.direction), load_if_exists=True)
    return store.studies[name]


def _final(trial: FrozenTrial) -> bool:
    return trial.state == TrialState.COMPLETE or (
        trial.state == TrialState.FAIL and trial.user_attrs.get("reason") == "diverged")


def _live(trial: FrozenTrial) -> bool:
    return _final(trial) or trial.state in (TrialState.WAITING, TrialState.RUNNING)


def seed_states(study: optuna.Study, seeds: list[int]) -> dict[int, str]:
    """Each seed's state: ``done``, ``running``, ``waiting`` or ``missing``."""
    out = dict.fromkeys(seeds, "missing")
    rank = {"missing": 0, "waiting": 1, "running": 2, "done": 3}
    for trial in study.get_trials(deepcopy=False):
        seed = trial.user_attrs.get("seed")
        if seed not in out:
            continue
        state = ("done" if _final(trial) else "running" if trial.state == TrialState.RUNNING
                 else "waiting" if trial.state == TrialState.WAITING else "missing")
        if rank[state] > rank[out[seed]]:
            out[seed] = state
    return out


def enqueue_missing(study: optuna.Study, seeds: list[int]) -> int:
    """Enqueue a trial for every seed without a live one; return how many."""
    missing = [s for s, state in seed_states(study, seeds).items() if state == "missing"]
    for seed in missing:
        study.enqueue_trial({"seed": seed}, user_attrs={"seed": seed})
    return len(missing)


def take(study: optuna.Study) -> tuple[optuna.Trial, int] | None:
    """Pop a WAITING run for this process: ``(trial, seed)``, or None if there is none to take."""
    if not study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        return None  # ``ask`` would create a new, seedless trial
    trial = storage_mod.ask(study)
    seed = trial.user_attrs.get("seed")
    if seed is None:  # the last WAITING one was popped by another worker meanwhile
        trial.set_user_attr("reason", "empty")
        study.tell(trial, state=TrialState.FAIL)
        return None
    # Read after our pop: a copy popped before ours is RUNNING here, so of two copies popped
    # at once exactly one (the lower number) sees no live copy ahead of it.
    for other in study.get_trials(deepcopy=False):
        if other.number == trial.number or other.user_attrs.get("seed") != seed:
            continue
        if _final(other) or (other.number < trial.number and _live(other)):
            trial.set_user_attr("reason", "duplicate")
            study.tell(trial, state=TrialState.FAIL)
            return None
    return trial, seed


def finish(study: optuna.Study, trial: optuna.Trial, result: dict[str, Any], metric: str,
           skipped: bool = False) -> None:
    """Tell the run's outcome: COMPLETE with its validation ``metric``, or FAIL if it diverged."""
    if skipped:
        trial.set_user_attr("skipped", True)  # found finished on disk; nothing was trained
    if result.get("status") == "diverged":
        failure = result.get("failure", {})
        trial.set_user_attr("reason", "diverged")
        trial.set_user_attr("epoch", failure.get("epoch"))
        study.tell(trial, state=TrialState.FAIL)
        return
    value = result.get("metrics", {}).get("val", {}).get(metric)
    # A metric undefined on this split (no class in the group) still completes the unit.
    study.tell(trial, float(value) if isinstance(value, int | float) else 0.0)
