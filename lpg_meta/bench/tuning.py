"""Tuning units: one Optuna study per cell, one trial at a time through ``ask``/``tell``.

Every worker, on any machine, asks the shared storage for a trial while the cell's budget
(``tuning.trials``) is not used up; the storage hands each WAITING trial (the enqueued
untuned values, or a retry of a dead worker's trial) to exactly one worker. Two workers may
both create a new trial when one was left: the one with the higher number sees the budget
filled by the trials ahead of it and gives its trial up (FAIL, ``reason: surplus``) before
training, so a cell runs exactly ``tuning.trials`` trials. A diverged trial is FAIL with
``reason: diverged`` and its epoch; it is not retried, is never best, and counts toward the
budget (a cell whose every trial diverges still ends). A trial of a killed worker is FAIL
without a reason, does not count, and runs again (see ``lpg_meta.bench.storage``).

Each trial's sampler is seeded with ``sampler_seed``, the cell (its dataset and method rows) and
the trial's place among first attempts (a retry keeps the parameters of the trial it retries),
so two cells draw different trials and a re-run draws the same ones. Trials train on the
tuning seeds (``tuning.seeds``), which no evaluation seed uses, so no reported run is a trial
and every evaluation seed of a cell is trained the same way. The choice between trials
(``bench.selection``) takes the earliest first attempt within ``tuning.margin`` validation
images of the best score, so the tuned parameters depend neither on the last bits of the
arithmetic nor on which process ran a trial or how often workers were killed.
"""

from __future__ import annotations

import hashlib
import time
from contextlib import redirect_stderr
from pathlib import Path
from typing import Any, Literal, cast, overload

import optuna
from optuna.trial import FrozenTrial, TrialState

from lpg_meta.bench import storage as storage_mod
from lpg_meta.bench.cells import Cell
from lpg_meta.bench.schema import Tuning
from lpg_meta.bench.selection import Score, choose, score
from lpg_meta.bench.space import suggest
from lpg_meta.bench.storage import RunStore, fail_stale, open_storage, origin  # noqa: F401 - re-exported
from lpg_meta.errors import TrainingDivergedError, UserError
from lpg_meta.results import RANDOM_START_TRIALS, trial_log_name, trial_result_name, write_json_atomic


def counted(trial: FrozenTrial) -> bool:
    """Whether ``trial`` used up one of the cell's trials: complete, pruned or diverged."""
    return trial.state in (TrialState.COMPLETE, TrialState.PRUNED) or (
        trial.state == TrialState.FAIL and trial.user_attrs.get("reason") == "diverged")


def _slot(study: optuna.Study, number: int) -> int:
    """How many first attempts come before trial ``number``: its place had no worker been killed."""
    return sum(1 for t in study.get_trials(deepcopy=False) if t.number < number and origin(t) == t.number
               and t.user_attrs.get("reason") not in ("surplus", "error"))


def _sampler(tuning: Tuning, cell: Cell, slot: int) -> optuna.samplers.BaseSampler:
    # A stable digest (Python's hash() of a str is salted per process); with the cell in it,
    # cells no longer all draw the same random trial.
    digest = hashlib.sha256(f"{tuning.sampler_seed}:{cell.dataset}:{cell.method}:{slot}".encode()).digest()
    return optuna.samplers.TPESampler(n_startup_trials=RANDOM_START_TRIALS, seed=int.from_bytes(digest[:4], "little"))


Direction = Literal["minimize", "maximize"]


@overload
def get_study(cell: Cell, tuning: Tuning, store: RunStore, create: Literal[True]) -> optuna.Study: ...
@overload
def get_study(cell: Cell, tuning: Tuning, store: RunStore, create: bool = False) -> optuna.Study | None: ...
def get_study(cell: Cell, tuning: Tuning, store: RunStore, create: bool = False) -> optuna.Study | None:
    """The cell's study, or None if it does not exist and ``create`` is False.

    A new study gets the untuned values enqueued as its first trial (``skip_if_exists``: a
    racing worker that also created it does not enqueue them twice).
    """
    if cell.study_name in store.studies:  # loaded once per run
        return store.studies[cell.study_name]
    storage = store.storage
    pruner = optuna.pruners.MedianPruner() if tuning.pruner == "median" else optuna.pruners.NopPruner()
    try:
        study = optuna.load_study(study_name=cell.study_name, storage=storage, sampler=_sampler(tuning, cell, 0),
                                  pruner=pruner)
    except KeyError:
        if not create:
            return None
        study = optuna.create_study(study_name=cell.study_name, storage=storage, sampler=_sampler(tuning, cell, 0),
                                    pruner=pruner, direction=cast(Direction, tuning.direction), load_if_exists=True)
        if not study.get_trials(deepcopy=False):
            study.set_user_attr("cell", cell.name)
            study.enqueue_trial(cell.first_trial, skip_if_exists=True)
    store.studies[cell.study_name] = study
    return study


def counts(study: optuna.Study | None) -> tuple[int, int]:
    """``(finished, running)`` trials; finished = complete, pruned or diverged."""
    if study is None:
        return 0, 0
    trials = study.get_trials(deepcopy=False)
    return sum(counted(t) for t in trials), sum(t.state == TrialState.RUNNING for t in trials)


def _surplus(study: optuna.Study, number: int, budget: int) -> bool:
    """Whether the trials numbered below ``number`` already fill the budget (done or to be run)."""
    ahead = [t for t in study.get_trials(deepcopy=False) if t.number < number
             and (counted(t) or t.state in (TrialState.RUNNING, TrialState.WAITING))]
    return len(ahead) >= budget


def run_trial(study: optuna.Study, cell: Cell, tuning: Tuning, log_dir: Path,
              on_epoch: Any = None) -> dict[str, Any] | None:
    """Ask one trial, train it on each tuning seed, report every epoch's validation metric, tell its score.

    The trial's value is its ``bench.selection`` score (the metric over the tuning seeds and
    their last ``tuning.last_epochs`` epochs, in validation images; kept exactly in the user
    attributes ``score_units`` and ``score_measurements``); the test split is never read. Epoch
    ``e`` of the ``i``-th tuning seed is reported as step ``i x epochs + e``, so the pruner
    compares trials on the same seed and epoch. Returns the trial's event, or None when the trial
    was surplus and given up untrained.
    """
    from lpg_meta.train.trainer import train

    trial = storage_mod.ask(study)
    if _surplus(study, trial.number, tuning.trials):
        trial.set_user_attr("reason", "surplus")
        study.tell(trial, state=TrialState.FAIL)
        return None
    study.sampler = _sampler(tuning, cell, _slot(study, trial.number))  # a retry keeps its params anyway
    params = {name: suggest(trial, name, dim) for name, dim in cell.space.items()}
    curves: list[list[float]] = []
    images: list[int] = []
    started = time.perf_counter()

    def report(epoch: int, val: dict[str, Any]) -> None:
        value = val.get(tuning.metric)
        if value is None:
            raise UserError(f"tuning.metric {tuning.metric} is undefined on the validation split of "
                            f"datasets.{cell.dataset} (no class in that group); choose another metric.")
        curves[-1].append(value)
        images[-1] = int(val["num_samples"])
        trial.report(value, (len(curves) - 1) * epochs + epoch)
        if on_epoch is not None:
            on_epoch((len(curves) - 1) * epochs + epoch, val)
        if trial.should_prune():
            raise optuna.TrialPruned()

    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / trial_log_name(trial.number)
    state, value = TrialState.COMPLETE, None
    try:
        with storage_mod.heartbeat(trial), open(log_path, "w") as log, redirect_stderr(log):
            print(f"# {cell.study_name} trial {trial.number} params {params} tuning seeds {list(tuning.seeds)}",
                  file=log, flush=True)
            try:
                for seed in tuning.seeds:
                    cfg = cell.config(seed, params)
                    cfg["train"]["progress"] = "log"  # epoch lines into the trial's log (not part of any hash)
                    epochs = cfg["train"]["epochs"]
                    curves.append([])
                    images.append(0)
                    # Kept for audit: a trial's runs are on tuning seeds, never an evaluation seed's.
                    write_json_atomic(trial_result_path(log_dir, trial.number, seed), train(cfg, None, report))
                found = score(curves, min(images), tuning.last_epochs)
                trial.set_user_attr("score_units", found.units)
                trial.set_user_attr("score_measurements", found.measurements)
                trial.set_user_attr("val_images", min(images))
                value = float(found.images) / min(images)  # the mean metric, for people and Optuna
            except optuna.TrialPruned:
                state = TrialState.PRUNED
            except TrainingDivergedError as err:
                # FAIL (never best) with a reason: counted toward the budget, never retried.
                trial.set_user_attr("reason", "diverged")
                trial.set_user_attr("epoch", err.epoch + 1)
                trial.set_user_attr("error", str(err))
                print(f"# diverged: {err}", file=log)
                state = TrialState.FAIL
    except BaseException:
        trial.set_user_attr("reason", "error")
        study.tell(trial, state=TrialState.FAIL)  # not counted; the error goes up to the user
        raise
    seconds = time.perf_counter() - started
    trial.set_user_attr("seconds", seconds)
    study.tell(trial, value, state=state)
    return {"kind": "trial", "cell": cell.name, "number": trial.number,
            "state": "DIVERGED" if state == TrialState.FAIL else state.name,
            "value": value, "metric": tuning.metric, "params": params, "seconds": seconds}


def trial_result_path(log_dir: Path, number: int, seed: int) -> Path:
    """Where a complete trial's ``result.json`` on tuning seed ``seed`` is kept, next to its log."""
    return log_dir / trial_result_name(number, seed)


def best(study: optuna.Study | None, cell: Cell, tuning: Tuning) -> tuple[dict[str, Any], float | None, int | None]:
    """``(params, value, trial number)`` of the chosen complete trial (``bench.selection``); the untuned values if none.

    Trials are listed by first attempt, not by number: a retried trial has a higher number than
    it would have had, and the choice must not depend on which worker was killed.
    """
    complete = [] if study is None else study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if study is None or not complete:
        return dict(cell.first_trial), None, None
    complete = sorted(complete, key=origin)
    scores = [Score(int(t.user_attrs["score_units"]), int(t.user_attrs["score_measurements"])) for t in complete]
    trial = complete[choose(scores, tuning.margin, study.direction == optuna.study.StudyDirection.MAXIMIZE)]
    return dict(trial.params), trial.value, trial.number
