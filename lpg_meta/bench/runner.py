"""``lpg-meta run SUITE.yaml``: tune every cell on its tuning seeds, then run the chosen parameters once per seed.

All coordination goes through the Optuna storage (``--storage``: ``postgresql://``,
``sqlite:///`` or a journal file, default ``OUTPUT/optuna.journal``), so any number of
``lpg-meta run`` processes on any number of machines can share one suite; the output folder
must be shared too (a cluster file system). Each cell has two studies: its tuning study
(``tuning``: one trial per unit, up to ``tuning.trials``) and, once tuning is over, its runs
study (``units``: one trial per seed). A worker scans the cells in order and pops the first
unit it can from the storage, which gives each unit to exactly one worker; a unit of a killed
worker is failed and enqueued again (``storage``: heartbeats on databases, pids on the same
host). Results are written atomically, and a run whose ``result.json`` already holds its
exact config (``cells.load_finished``) is told done without training, so re-runs, runs after
a crash and edited suites train only what is missing. ``--workers N`` starts N local worker
processes of the same kind.
"""

from __future__ import annotations

import copy
import multiprocessing
import queue as queue_mod
import sys
import time
import traceback
from collections.abc import Callable
from contextlib import redirect_stderr
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
import torch
from optuna.trial import TrialState

from lpg_meta.bench import devices as devices_mod
from lpg_meta.bench import storage as storage_mod
from lpg_meta.bench import tuning, units
from lpg_meta.bench.cells import Cell, config_hash, expand, load_finished
from lpg_meta.bench.estimate import dry_run as estimate_plan
from lpg_meta.bench.overrides import with_overrides
from lpg_meta.bench.preflight import preflight
from lpg_meta.bench.progress import Overall, epoch_bar
from lpg_meta.bench.schema import Suite, load_suite
from lpg_meta.bench.storage import RunStore
from lpg_meta.bench.study_report import EpochReporter
from lpg_meta.errors import TrainingDivergedError, UserError
from lpg_meta.results import RESULT_NAME, TUNING_DIR, provenance, remove_stray_temps, write_json_atomic
from lpg_meta.train.checkpoint import finish_checkpoints

if TYPE_CHECKING:
    from lpg_meta.train.trainer import EpochCallback

Emit = Callable[[dict[str, Any]], None]
# Each worker trains with one torch thread (a run's train.threads, if set, still wins): the
# suite's parallelism is across processes, small CPU models gain little from intra-op threads,
# and on a shared machine spinning OpenMP threads made runs up to 20x slower (measured: ce on
# MNIST-1D 10.6s with 2 threads vs 0.5s with 1, 2 busy cores).
THREADS_PER_WORKER = 1
_threads = [THREADS_PER_WORKER]  # this process's: more for a GPU worker (devices.threads_per_worker)
POLL_S = 0.5  # how often a worker with nothing to take looks again


@dataclass(frozen=True)
class Plan:
    """What every worker needs (picklable: sent to spawned processes)."""

    suite: Suite
    cells: list[Cell]
    storage: str

    @property
    def output(self) -> Path:
        return self.suite.output

    def tuned(self, cell: Cell) -> bool:
        return bool(cell.space) and self.suite.tuning.trials > 0


def make_plan(path: str | Path, storage: str | None = None, only: str | None = None,
              overrides: list[str] | None = None, out: str | Path | None = None) -> Plan:
    """Load and validate the suite (``--set`` ``overrides`` laid over it, output ``out``) and expand its cells."""
    suite = with_overrides(load_suite(path), overrides or [], out)
    cells = expand(suite, only)
    return Plan(suite=suite, cells=cells, storage=storage or suite.storage or str(suite.output / "optuna.journal"))


def run_suite(path: str | Path, workers: int = 1, storage: str | None = None, only: str | None = None,
              dry_run: bool = False, devices: list[int] | None = None, overrides: list[str] | None = None,
              out: str | Path | None = None) -> dict[str, Any]:
    """Run (or, with ``dry_run``, estimate) a suite; return a summary of every cell.

    Args:
        path: the suite YAML.
        workers: local processes sharing the work (1 runs in this process).
        storage: an Optuna storage URL or journal file, instead of the suite's.
        only: a glob over ``dataset/method`` cell names.
        dry_run: list the cells and their estimated cost; train nothing, write nothing.
        devices: the GPUs the workers share round-robin (``devices.assign``; default: all visible).
        overrides: ``KEY=VALUE`` items laid over every cell's config, last (``overrides.py``).
        out: the output folder instead of the suite's.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise UserError(f"--workers must be a positive integer, got {workers!r}.")
    started = time.perf_counter()
    plan = make_plan(path, storage, only, overrides, out)
    preflight(plan, storage, dry_run=dry_run)  # before anything is written, for API callers too
    if dry_run:
        return estimate_plan(plan, workers, only)
    plan.output.mkdir(parents=True, exist_ok=True)
    store = RunStore(plan.storage)  # this run's; spawned workers open their own
    total = 0
    for cell in plan.cells:  # workers elsewhere may create them too: creation is load-if-exists
        if plan.tuned(cell):
            study = tuning.get_study(cell, plan.suite.tuning, store, create=True)
            total += max(0, plan.suite.tuning.trials - tuning.counts(study)[0])
        total += len(plan.suite.cell_seeds(cell.name))
    assignment = devices_mod.assign(workers, devices)
    _threads[0] = devices_mod.threads_per_worker(workers, assignment, THREADS_PER_WORKER)
    if workers > 1 or assignment[0] is not None:
        print(devices_mod.describe(assignment, _threads[0]), file=sys.stderr, flush=True)
    tracker = Overall(total, plan.suite.name)
    threads = torch.get_num_threads()
    try:
        if workers == 1:
            devices_mod.use_device(assignment[0])
            torch.set_num_threads(_threads[0])
            _work(plan, store, 0, tracker.handle)
        else:
            _spawn(plan, assignment, tracker)
    finally:
        _threads[0] = THREADS_PER_WORKER
        torch.set_num_threads(threads)
        tracker.close()
    return _summary(plan, store, tracker, workers, time.perf_counter() - started)


def _work(plan: Plan, store: RunStore, worker: int, emit: Emit) -> None:
    """Take units until every cell is done; wait while the only ones left run elsewhere."""
    reported: set[tuple[str, int]] = set()
    done: set[str] = set()  # final for this call: not asked about again (storage round trips)
    while True:
        states = []
        for cell in plan.cells:
            state = "done" if cell.name in done else _step_cell(plan, store, cell, worker, emit, reported)
            states.append(state)
            if state == "done":
                done.add(cell.name)
            if state == "worked":
                break  # rescan from the first cell: one worker then runs cells strictly in order
        if len(done) == len(plan.cells):
            return
        if "worked" not in states:
            time.sleep(POLL_S)


def _step_cell(plan: Plan, store: RunStore, cell: Cell, worker: int, emit: Emit,
               reported: set[tuple[str, int]]) -> str:
    """Run one unit of ``cell`` if one is free: ``worked``, ``busy`` (running elsewhere) or ``done``."""
    torch.set_num_threads(_threads[0])  # again: a run's own train.threads may have changed it
    params: dict[str, Any] = {}
    study_name: str | None = None
    if plan.tuned(cell):
        study = tuning.get_study(cell, plan.suite.tuning, store, create=True)
        tuning.fail_stale(study)
        finished, running = tuning.counts(study)
        if finished + running < plan.suite.tuning.trials:
            log_dir = plan.output / cell.dataset / cell.method / TUNING_DIR
            epochs = cell.config(plan.suite.seeds[0])["train"]["epochs"] * len(plan.suite.tuning.seeds)
            with epoch_bar(f"{cell.name} tune", epochs, worker) as bar:
                event = tuning.run_trial(study, cell, plan.suite.tuning, log_dir, bar)
            if event is not None:
                emit(event)
            return "worked"
        if finished < plan.suite.tuning.trials or running:
            return "busy"  # wait for every trial, so all workers pick the same best parameters
        params, _, _ = tuning.best(study, cell, plan.suite.tuning)
        study_name = cell.study_name
    runs = units.get_runs_study(cell, params, plan.suite.tuning, store)
    tuning.fail_stale(runs)
    seeds = plan.suite.cell_seeds(cell.name)
    units.enqueue_missing(runs, seeds)
    taken = units.take(runs)
    if taken is not None:
        _seed_run(plan, cell, params, study_name, worker, emit, runs, *taken)
        reported.add((cell.name, taken[1]))
        return "worked"
    states = units.seed_states(runs, seeds)
    if any(state != "done" for state in states.values()):
        return "busy"
    for seed in seeds:
        if (cell.name, seed) not in reported:  # run by another worker, or in an earlier call
            reported.add((cell.name, seed))
            emit({"kind": "skip", "cell": cell.name, "seed": seed})
    return "done"


def _suite_info(plan: Plan, cell: Cell, params: dict[str, Any], study_name: str | None) -> dict[str, Any]:
    return {"name": plan.suite.name, "dataset_row": cell.dataset, "method_row": cell.method,
            "tuned_params": params, "study_name": study_name}


def _seed_run(plan: Plan, cell: Cell, params: dict[str, Any], study_name: str | None, worker: int,
              emit: Emit, runs: optuna.Study, trial: optuna.Trial, seed: int) -> None:
    """Run the popped unit ``trial`` (seed ``seed``) unless its result is already on disk; tell it."""
    cfg = cell.config(seed, params)
    run_dir = cell.run_dir(plan.output, seed)
    info = _suite_info(plan, cell, params, study_name)
    metric = plan.suite.tuning.metric
    reporter = EpochReporter(trial, metric)  # the dashboard's view of the unit
    started = time.perf_counter()
    try:
        with storage_mod.heartbeat(trial):
            result = finished_result(run_dir, cfg, info)
            if result is not None:  # e.g. a worker killed after writing it, before telling
                reporter.finish(result)
                units.finish(runs, trial, result, metric, skipped=True)
                emit({"kind": "skip", "cell": cell.name, "seed": seed})
                return
            result = _train_logged(cfg, run_dir, f"{cell.name} s{seed}", worker, reporter)
            result["suite"] = info
            write_result(run_dir, result)
            finish_checkpoints(run_dir, cfg["train"])
    except BaseException:
        trial.set_user_attr("reason", "error")
        runs.tell(trial, state=TrialState.FAIL)  # enqueued again on the next call
        raise
    reporter.finish(result)
    units.finish(runs, trial, result, metric)
    emit({"kind": "run", "cell": cell.name, "seed": seed, "status": result["status"],
          "seconds": time.perf_counter() - started})


def write_result(run_dir: Path, result: dict[str, Any]) -> None:
    """Write ``result.json`` atomically, then remove temp files of writers killed mid-write.

    Only this process owns the unit, so any other temp file in ``run_dir`` is a dead one's.
    """
    write_json_atomic(run_dir / RESULT_NAME, result)
    remove_stray_temps(run_dir, RESULT_NAME)


def _train_logged(cfg: dict[str, Any], run_dir: Path, label: str, worker: int,
                  on_epoch: EpochCallback | None = None) -> dict[str, Any]:
    """Train with the trainer's epoch lines in ``run_dir/train.log`` and an epoch bar on a terminal.

    Checkpoints go to ``run_dir``: a unit handed to another worker (a dead one's) continues from
    the last one, and its log goes on; a checkpoint of an older config of the cell is replaced.
    """
    from lpg_meta.train.checkpoint import CHECKPOINT_NAME
    from lpg_meta.train.trainer import train

    run_cfg = copy.deepcopy(cfg)
    run_cfg["train"]["progress"] = "log"  # excluded from config_hash: the key is unchanged
    run_dir.mkdir(parents=True, exist_ok=True)
    with epoch_bar(label, cfg["train"]["epochs"], worker) as bar, \
            open(run_dir / "train.log", "a" if (run_dir / CHECKPOINT_NAME).exists() else "w") as log, \
            redirect_stderr(log):
        print(f"# {label} config {config_hash(cfg)}", file=log, flush=True)
        try:
            return train(run_cfg, None, bar if on_epoch is None else _both(bar, on_epoch), run_dir=run_dir,
                         foreign_checkpoint="restart")
        except TrainingDivergedError as err:
            print(f"# diverged: {err}", file=log)
            return {"status": "diverged", "error": str(err), "config": run_cfg, "seed": cfg["seed"],
                    "failure": {"reason": "diverged", "epoch": err.epoch + 1, "step": err.step},
                    "provenance": provenance()}


def _both(first: EpochCallback, second: EpochCallback) -> EpochCallback:
    def on_epoch(epoch: int, val: dict[str, Any]) -> None:
        first(epoch, val)
        second(epoch, val)

    return on_epoch


def finished_result(run_dir: Path, cfg: dict[str, Any], info: dict[str, Any]) -> dict[str, Any] | None:
    """The run's result if ``run_dir`` holds one for exactly ``cfg``; refresh its suite block if stale."""
    result = load_finished(run_dir, cfg)
    if result is not None and result.get("suite") != info:
        result["suite"] = info  # same run under a new study name: no need to retrain
        write_json_atomic(run_dir / RESULT_NAME, result)
    return result


def _spawn(plan: Plan, assignment: list[int | None], tracker: Overall) -> None:
    """Run a spawned process per entry of ``assignment`` (its GPU) and feed their events to the overall bar."""
    ctx = multiprocessing.get_context("spawn")  # fork would copy torch's threads and locks
    events = ctx.Queue()
    procs = [ctx.Process(target=_worker_main, args=(plan, i, events, _threads[0], device))
             for i, device in enumerate(assignment)]
    for proc in procs:
        proc.start()
    error: dict[str, Any] | None = None
    try:
        while any(p.is_alive() for p in procs) or not events.empty():
            try:
                event = events.get(timeout=0.5)
            except queue_mod.Empty:
                continue
            if event["kind"] == "error" and error is None:
                error = event
                for proc in procs:  # fail fast: the others would likely hit the same error
                    proc.terminate()
            elif event["kind"] != "exit":
                tracker.handle(event)
    finally:
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.terminate()
    if error is not None:
        raise UserError(error["message"]) if error["user"] else RuntimeError(error["message"])
    failed = [p.exitcode for p in procs if p.exitcode not in (0, None)]
    if failed:
        raise RuntimeError(f"worker processes exited with codes {failed}; re-run to resume.")


def _worker_main(plan: Plan, index: int, events: Any, threads: int, device: int | None = None) -> None:
    _threads[0] = threads
    torch.set_num_threads(threads)
    try:
        devices_mod.use_device(device)
        _work(plan, RunStore(plan.storage), index, events.put)
    except UserError as err:
        events.put({"kind": "error", "user": True, "message": str(err)})
    except BaseException:  # noqa: BLE001 - reported to the main process, which re-raises
        events.put({"kind": "error", "user": False, "message": traceback.format_exc()})
    finally:
        events.put({"kind": "exit", "worker": index})


def _summary(plan: Plan, store: RunStore, tracker: Overall, workers: int, seconds: float) -> dict[str, Any]:
    cells: list[dict[str, Any]] = []
    for cell in plan.cells:
        study = tuning.get_study(cell, plan.suite.tuning, store) if plan.tuned(cell) else None
        params, value, number = tuning.best(study, cell, plan.suite.tuning)
        runs = []
        for seed in plan.suite.cell_seeds(cell.name):
            run_dir = cell.run_dir(plan.output, seed)
            info = _suite_info(plan, cell, params, study.study_name if study else None)
            result = finished_result(run_dir, cell.config(seed, params), info)
            runs.append({"seed": seed, "path": str(run_dir / RESULT_NAME),
                         "status": result["status"] if result else "missing",
                         "trained": (cell.name, seed) in tracker.trained,
                         "test": (result or {}).get("metrics", {}).get("test")})
        cells.append({"cell": cell.name, "study": study.study_name if study else None,
                      "trials_finished": tuning.counts(study)[0], "best_trial": number, "best_value": value,
                      "tuned_params": params, "runs": runs})
    return {"suite": plan.suite.name, "output": str(plan.output), "storage": plan.storage, "workers": workers,
            "dry_run": False, "metric": plan.suite.tuning.metric, "cells": cells, "trained": tracker.runs,
            "trials_run": tracker.trials,
            "skipped": sum(1 for c in cells for r in c["runs"] if not r["trained"]), "seconds": seconds}
