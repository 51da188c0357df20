"""``--dry-run`` cost estimate: how much training each cell still needs.

The unit is a *run-equivalent*: one full training run of the cell's config. A trial counts as
one per tuning seed (it trains on each; pruned trials stop early, so this is an upper bound);
each evaluation seed still to run counts as one (no seed re-uses a trial). Seconds are
``run-equivalents x epochs x steps/epoch x seconds/step x method factor``: seconds/step is
measured from finished runs of the same dataset row in the output folder when there are some, else
``STEP_SECONDS``; the method factor is a step's cost relative to plain cross-entropy (sam 2: two
passes; meta-learned LPG about 5: virtual step, meta gradient through it, real step). The
factors were measured on the 2-core reference machine, one thread, MNIST-1D with cnn1d and batch
128; ``STEP_SECONDS`` is fitted (see its comment). Without finished runs, seconds/step comes
from the model's declared ``step_seconds`` (its step at batch 128 on that machine), scaled linearly
with the batch size; models without one get ``STEP_SECONDS`` at batch 128, scaled the same way. Steps per epoch come
from building the data, or, for sources with fixed pools (CIFAR) whose files are not on disk
yet, from ``nominal_train_size``. Estimates are for the 2-core reference CPU until runs of a row
finish (e.g. on a GPU); then that row's measured seconds/step takes over.

Around the training steps, a run also costs its start-up (model, checkpoints, result file,
storage bookkeeping: ``RUN_START_SECONDS``) and each epoch's evaluation of the validation and
test splits (``EVAL_COST`` of a training sample per evaluated sample); measured seconds/step
already hold both (they are a whole run's seconds over its steps), so they are added only where
seconds/step is the reference's. The suite as a whole adds the process start-up (imports, the
first run's warm-up: ``PROCESS_START_SECONDS``), building each dataset row's data (timed here,
when the dry run builds it to count its steps) and, for a whole suite, the report stage (tables,
claims, plots, theory: ``REPORT_SECONDS`` plus ``REPORT_SECONDS_PER_RUN`` a seeded run). The
training work is shared by the workers; start-up, data and report are not.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

from lpg_meta import catalog
from lpg_meta.bench.cells import Cell
from lpg_meta.config import train_setting
from lpg_meta.errors import UserError

STEP_SECONDS = 0.0094  # see below: fitted with RUN_START_SECONDS
REFERENCE_BATCH = 128
# A model's seconds per ce training step at batch 128 on the reference machine (2 cores) is its
# declared ``step_seconds`` (lpg_meta/catalog/models.py), STEP_SECONDS for models without one; both
# scale linearly with the batch (a cnn1d of width 64 took 3.5 ms at batch 64 and 6.2 ms at 128 there,
# benchmarks/cpu_regimes.md).
# Start-up and report, measured in CPU seconds (one thread: what an idle core takes) on the smoke
# suite's MNIST-1D rows and on results/cpu, 2-core reference machine:
PROCESS_START_SECONDS = 5.0  # imports (2.9 s) and the first run's warm-up (2.2 s)
EVAL_COST = 1 / 3  # an evaluated sample costs a third of a training sample (a forward, no backward)
REPORT_SECONDS = 3.0  # tables, claims, plots and theory of a small suite (smoke: 3.4 s)
REPORT_SECONDS_PER_RUN = 0.13  # what each seeded run adds to them (about 85 s for the 646 runs of cpu.yaml)
# A run's start-up (model, data split, checkpoints, result file, Optuna bookkeeping) and the small
# models' seconds per ce step at batch 128: fitted to the whole-suite times measured on the 2-core AVX2
# machine, cpu.yaml with 2 workers (4,681 s in the runner, results/cpu/RUN.md) and smoke.yaml with 1
# (22 s), by `benchmarks/bench_dry_run.py --fit`. Fitting both exactly needs a start-up of -0.04 s, so
# the start-up is 0 (what it costs is inside the measured step time) and the step time fits cpu.yaml;
# results/bench/dry_run_estimate.json gives both ratios. Re-fit when a suite's measured time moves.
RUN_START_SECONDS = 0.0


def method_factor(name: str) -> float:
    """Cost of a step relative to plain cross-entropy: the product of the methods' declared ``step_cost``."""
    return catalog.method_step_cost(name)


def steps_per_epoch(cell: Cell, seed: int, cache: dict[str, Any]) -> int | None:
    """Training steps per epoch of the cell's data (built once per dataset row); None if unavailable."""
    return data_info(cell, seed, cache)["steps"]


def data_info(cell: Cell, seed: int, cache: dict[str, Any]) -> dict[str, Any]:
    """``steps`` per epoch, ``eval_samples`` (validation + test) and ``build_seconds`` of the cell's data.

    Built once per dataset row; sources with fixed pools (CIFAR) are sized without building
    (``eval_samples`` None: not counted), a row whose data cannot be built yet has ``steps`` None.
    """
    from lpg_meta.data import build_data
    from lpg_meta.data.build import nominal_train_size
    from lpg_meta.train.trainer import steps_in_epoch

    if cell.dataset not in cache:
        cfg = cell.config(seed)
        info: dict[str, Any] = {"steps": None, "eval_samples": None, "build_seconds": 0.0}
        try:
            n = nominal_train_size(cfg["dataset"], cfg["data"])
            if n is None:  # no fixed pool: build the data to count
                started = time.process_time()  # CPU time: what an idle core takes, whatever the load
                bundle = build_data(cfg["dataset"], cfg["data"], seed)
                info["build_seconds"] = time.process_time() - started
                n, info["eval_samples"] = len(bundle.train.y), len(bundle.val.y) + len(bundle.test.y)
            info["steps"] = steps_in_epoch(n, cfg["train"]["batch_size"])
        except UserError:  # e.g. an image folder not on disk yet: still list the cell
            pass
        cache[cell.dataset] = info
    return cache[cell.dataset]


def default_step_seconds(cfg: dict[str, Any]) -> float:
    """Seconds per ce step of the cell's model and batch size on the reference machine."""
    measured = catalog.model(cfg["model"]).step_seconds
    at_reference_batch = STEP_SECONDS if measured is None else measured
    return at_reference_batch * cfg["train"]["batch_size"] / REFERENCE_BATCH


def measured_step_seconds(output: Path, dataset_row: str) -> float | None:
    """Median seconds per (single-pass) step of finished runs of ``dataset_row``, if any."""
    samples = []
    for path in sorted(Path(output, dataset_row).glob("*/seed*/result.json")):
        try:
            result = json.loads(path.read_text())
            timing, method = result["timing"], result["config"]["method"]
            samples.append(timing["seconds_total"] / max(1, timing["steps"]) / method_factor(method))
        except (OSError, ValueError, KeyError, TypeError, UserError):
            continue  # a diverged, partial or foreign file says nothing about speed
    return statistics.median(samples) if samples else None


def estimate_cell(cell: Cell, trials_left: int, seeds_left: int, seed: int, output: Path,
                  cache: dict[str, Any], tuning_seeds: int = 1) -> dict[str, Any]:
    """The dry-run row of one cell; each trial left trains once per tuning seed (``tuning_seeds``)."""
    cfg = cell.config(seed)
    epochs = cfg["train"]["epochs"]
    data = data_info(cell, seed, cache.setdefault("steps", {}))
    steps = data["steps"]
    cap = train_setting(cfg["train"], "max_steps_per_epoch")
    if steps is not None and cap:
        steps = min(steps, cap)
    per_step = cache.setdefault("step_s", {})
    if cell.dataset not in per_step:
        per_step[cell.dataset] = measured_step_seconds(output, cell.dataset)
    step_s = per_step[cell.dataset] or default_step_seconds(cfg)
    runs = trials_left * tuning_seeds + seeds_left
    seconds = None if steps is None else runs * epochs * steps * step_s * method_factor(cfg["method"])
    if seconds is not None and per_step[cell.dataset] is None:  # measured seconds/step already hold these
        evaluated = (data["eval_samples"] or 0) * step_s / cfg["train"]["batch_size"] * EVAL_COST
        seconds += runs * (RUN_START_SECONDS + epochs * evaluated)
    return {"cell": cell.name, "trials_left": trials_left, "seeds_left": seeds_left, "epochs": epochs,
            "steps_per_epoch": steps, "run_equivalents": runs, "seconds": seconds,
            "step_seconds": step_s, "step_seconds_measured": per_step[cell.dataset] is not None}


def suite_seconds(rows: list[dict[str, Any]], workers: int, build_seconds: float, report_runs: int) -> dict[str, float]:
    """Wall seconds of the whole call: the rows' work shared by ``workers``, plus what is not shared.

    ``report_runs``: seeded runs the report stage reads (0 when it does not run, e.g. ``--only``).
    """
    work = sum(r["seconds"] for r in rows if r["seconds"] is not None)
    left = sum(r["run_equivalents"] for r in rows)
    start = PROCESS_START_SECONDS + (build_seconds if left else 0.0)
    report = REPORT_SECONDS + REPORT_SECONDS_PER_RUN * report_runs if report_runs else 0.0
    return {"work": work, "start": start, "report": report, "total": start + work / workers + report}


def _storage_exists(spec: str) -> bool:
    """Whether opening ``spec`` reads an existing store: opening a new sqlite or journal file creates it."""
    if spec.startswith("sqlite:///"):
        return Path(spec.removeprefix("sqlite:///")).exists()
    return "://" in spec or Path(spec).exists()


def dry_run(plan: Any, workers: int = 1, only: str | None = None) -> dict[str, Any]:
    """Estimate each cell's remaining work of a ``runner.Plan`` run by ``workers`` processes (``only``: the
    ``--only`` glob, which skips the report); reads the storage if it exists, writes nothing."""
    from lpg_meta.bench import tuning
    from lpg_meta.bench.cells import load_finished
    from lpg_meta.bench.storage import RunStore

    suite = plan.suite
    exists = _storage_exists(plan.storage)
    store = RunStore(plan.storage)  # opened only if it exists (a new sqlite or journal file would be created)
    cache: dict[str, Any] = {}
    rows = []
    for cell in plan.cells:
        tuned = plan.tuned(cell)
        study = tuning.get_study(cell, suite.tuning, store) if exists and tuned else None
        finished, running = tuning.counts(study)
        trials_left = max(0, suite.tuning.trials - finished) if tuned else 0
        seeds = suite.cell_seeds(cell.name)
        seeds_left = len(seeds)
        if trials_left == 0 and not running:  # best parameters known: look for finished seeds
            params = tuning.best(study, cell, suite.tuning)[0] if tuned else {}
            seeds_left = sum(load_finished(cell.run_dir(plan.output, s), cell.config(s, params)) is None
                             for s in seeds)
        rows.append(estimate_cell(cell, trials_left, seeds_left, suite.seeds[0], plan.output, cache,
                                  len(suite.tuning.seeds)))
    known = [r["seconds"] for r in rows if r["seconds"] is not None]
    built = sum(info["build_seconds"] for info in cache.get("steps", {}).values())
    report_runs = 0 if only else sum(len(suite.cell_seeds(cell.name)) for cell in plan.cells)
    parts = suite_seconds(rows, workers, built, report_runs)
    return {"suite": suite.name, "output": str(plan.output), "storage": plan.storage, "dry_run": True,
            "cells": rows, "run_equivalents": sum(r["run_equivalents"] for r in rows), "workers": workers,
            "seconds": parts["total"], "seconds_work": parts["work"], "seconds_start": parts["start"],
            "seconds_report": parts["report"], "seconds_unknown": len(rows) - len(known),
            "seeds": seed_design(suite)}


def seed_design(suite: Any) -> dict[str, Any]:
    """The suite's seeds, how they were fixed, the MDE they give, and the tuning seeds."""
    from lpg_meta.bench.seeds import mde

    rule = suite.seed_rule
    alpha, power = (rule.alpha, rule.power) if rule else (0.05, 0.8)
    return {"seeds": list(suite.seeds), "n": len(suite.seeds), "mde_sd": mde(len(suite.seeds), alpha, power),
            "alpha": alpha, "power": power, "effect_sd": rule.effect_sd if rule else None,
            "extra_seeds": sum(len(v) for v in suite.extra_seeds.values()), "tuning_seeds": list(suite.tuning.seeds)}
