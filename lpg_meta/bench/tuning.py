"""Optuna side of the runner: storage, one study per cell, one trial at a time.

Trials are run one by one through ``ask``/``tell`` so that several worker processes sharing
the storage can stop at exactly the suite's trial count, and so that a killed worker's trial
can be recognised (its pid is stored on the trial) and failed instead of waited on forever.
"""

from __future__ import annotations

import os
import time
from contextlib import redirect_stderr
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from lpg_meta.bench.cells import Cell
from lpg_meta.bench.schema import Tuning
from lpg_meta.bench.space import suggest
from lpg_meta.errors import TrainingDivergedError, UserError

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)  # what counts toward ``tuning.trials``

# One storage and one study object per process: a study keeps its sampler, whose seeded random
# state must advance from trial to trial (a fresh TPESampler(seed) each time would repeat itself).
_STORAGES: dict[str, Any] = {}
_STUDIES: dict[tuple[str, str], optuna.Study] = {}


def open_storage(spec: str) -> Any:
    """An Optuna storage: a database URL (``sqlite:///x.db``) or else a journal file path."""
    if spec not in _STORAGES:
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # the runner reports trials itself
        if "://" in spec:
            _STORAGES[spec] = optuna.storages.RDBStorage(spec)
        else:
            from optuna.storages.journal import JournalFileBackend

            Path(spec).parent.mkdir(parents=True, exist_ok=True)
            # The journal file's lock makes appends safe for several local processes.
            _STORAGES[spec] = optuna.storages.JournalStorage(JournalFileBackend(spec))
    return _STORAGES[spec]


def reset() -> None:
    """Forget cached storages and studies (each suite run starts from what is on disk)."""
    _STORAGES.clear()
    _STUDIES.clear()


def get_study(cell: Cell, tuning: Tuning, spec: str, create: bool = False, worker: int = 0) -> optuna.Study | None:
    """The cell's study, or None if it does not exist and ``create`` is False.

    A new study gets the untuned values enqueued as its first trial. Worker ``i`` samples with
    seed ``sampler_seed + i``: equal seeds would make parallel workers draw the same trials.
    """
    key = (spec, cell.study_name)
    if key in _STUDIES:
        return _STUDIES[key]
    storage = open_storage(spec)
    sampler = optuna.samplers.TPESampler(seed=tuning.sampler_seed + worker)
    pruner = optuna.pruners.MedianPruner() if tuning.pruner == "median" else optuna.pruners.NopPruner()
    try:
        study = optuna.load_study(study_name=cell.study_name, storage=storage, sampler=sampler, pruner=pruner)
    except KeyError:
        if not create:
            return None
        study = optuna.create_study(study_name=cell.study_name, storage=storage, sampler=sampler,
                                    pruner=pruner, direction=tuning.direction, load_if_exists=True)
        if not study.get_trials(deepcopy=False):
            study.set_user_attr("cell", cell.name)
            study.enqueue_trial(cell.first_trial, skip_if_exists=True)
    _STUDIES[key] = study
    return study


def counts(study: optuna.Study | None) -> tuple[int, int]:
    """``(finished, running)`` trials; finished = complete or pruned."""
    if study is None:
        return 0, 0
    trials = study.get_trials(deepcopy=False)
    return (sum(t.state in FINISHED for t in trials),
            sum(t.state == TrialState.RUNNING for t in trials))


def fail_stale(study: optuna.Study, spec: str) -> int:
    """Mark RUNNING trials of dead local processes as FAIL; return how many.

    A failed trial is not counted toward ``tuning.trials``, so another one takes its place;
    if it was the enqueued untuned trial, it is enqueued again so that it still runs first.
    """
    stale = 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        pid = trial.user_attrs.get("pid")
        if pid is None or pid == os.getpid() or pid_alive(pid):
            continue
        try:
            open_storage(spec).set_trial_state_values(trial._trial_id, TrialState.FAIL)  # noqa: SLF001
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another worker got there first
        stale += 1
        if "fixed_params" in trial.system_attrs:
            study.enqueue_trial(trial.system_attrs["fixed_params"])
    return stale


def pid_alive(pid: int) -> bool:
    """Whether a local process ``pid`` exists (the owner of a trial or a run claim)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def run_trial(study: optuna.Study, cell: Cell, tuning: Tuning, seed: int, log_dir: Path,
              on_epoch: Any = None) -> dict[str, Any]:
    """Ask one trial, train it on ``seed``, report every epoch's validation metric, tell the result.

    The objective is the validation metric of the last epoch; the test split is never read.
    A diverged run is told as pruned, so it counts toward the trials and is never best.
    """
    from lpg_meta.train.trainer import train

    trial = study.ask()
    trial.set_user_attr("pid", os.getpid())
    params = {name: suggest(trial, name, dim) for name, dim in cell.space.items()}
    cfg = cell.config(seed, params)
    cfg["train"]["progress"] = "log"  # epoch lines into the trial's log (not part of any hash)
    last: list[float] = []
    started = time.perf_counter()

    def report(epoch: int, val: dict[str, Any]) -> None:
        value = val.get(tuning.metric)
        if value is None:
            raise UserError(f"tuning.metric {tuning.metric} is undefined on the validation split of "
                            f"datasets.{cell.dataset} (no class in that group); choose another metric.")
        last.append(value)
        trial.report(value, epoch)
        if on_epoch is not None:
            on_epoch(epoch, val)
        if trial.should_prune():
            raise optuna.TrialPruned()

    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"trial{trial.number:03d}.log"
    state, value = TrialState.COMPLETE, None
    try:
        with open(log_path, "w") as log, redirect_stderr(log):
            print(f"# {cell.study_name} trial {trial.number} params {params}", file=log, flush=True)
            try:
                train(cfg, None, report)
                value = last[-1]
            except optuna.TrialPruned:
                state = TrialState.PRUNED
            except TrainingDivergedError as err:
                trial.set_user_attr("diverged", str(err))
                print(f"# diverged: {err}", file=log)
                state = TrialState.PRUNED
    except BaseException:
        study.tell(trial, state=TrialState.FAIL)  # not counted; the error goes up to the user
        raise
    seconds = time.perf_counter() - started
    trial.set_user_attr("seconds", seconds)
    study.tell(trial, value, state=state)
    return {"kind": "trial", "cell": cell.name, "number": trial.number, "state": state.name,
            "value": value, "params": params, "seconds": seconds}


def best(study: optuna.Study | None, cell: Cell) -> tuple[dict[str, Any], float | None, int | None]:
    """``(params, value, trial number)`` of the best complete trial; the untuned values if none."""
    complete = [] if study is None else study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return dict(cell.first_trial), None, None
    trial = study.best_trial
    return dict(trial.params), trial.value, trial.number
