"""``--dry-run`` cost estimate: how much training each cell still needs.

The unit is a *run-equivalent*: one full training run of the cell's config. A trial counts as one
per tuning seed (it trains on each; pruned trials stop early, so this is an upper bound); each
evaluation seed still to run counts as one (no seed re-uses a trial). Seconds are
``run-equivalents x epochs x steps/epoch x seconds/step x method factor``: seconds/step is measured
from finished runs of the same dataset row in the output folder when there are some, else
``STEP_SECONDS``; the method factor is a step's cost relative to plain cross-entropy (sam 2: two
passes; meta-learned LPG about 5: virtual step, meta gradient through it, real step). Both were
measured on the 2-core reference machine, one thread, MNIST-1D with cnn1d and batch 128 (ce
4 ms/step, sam 8, lpg and lpg_scale 22, evaluation included). Without finished runs, seconds/step
comes from ``MODEL_STEP_SECONDS`` (the model's step at batch 128 on that machine), scaled
linearly with the batch size; models missing from the table get ``STEP_SECONDS``. It ignores
start-up (imports, data generation). Steps per epoch come from building the data, or, for sources
with fixed pools (CIFAR) whose files are not on disk yet, from ``nominal_train_size``. Estimates
are for the 2-core reference CPU until runs of a row finish (e.g. on a GPU); then that row's
measured seconds/step takes over.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from lpg_meta.bench.cells import Cell
from lpg_meta.config import train_setting
from lpg_meta.errors import UserError

STEP_SECONDS = 0.004  # see above
REFERENCE_BATCH = 128
# Seconds per ce training step at batch 128 on the reference machine (2 cores), by model; other
# models keep STEP_SECONDS whatever their batch (the suites sized with it stay as they were).
# resnet32: 0.48 s measured at 2 threads (results/bench/meta_step.json), plus ~5% for
# evaluating 1/5 as many images per epoch. wrn28_10 was not measured on CPU: ResNet-32's time
# times the ratio of forward FLOPs (5.25 G / 0.069 G per 32x32 image, ~76x).
MODEL_STEP_SECONDS: dict[str, float] = {"resnet32": 0.5, "wrn28_10": 38.0}


def method_factor(name: str) -> float:
    """Cost of a step relative to plain cross-entropy: the product of the methods' ``step_cost``."""
    from lpg_meta.methods import method_classes

    factor = 1.0
    for cls in method_classes(name):
        if cls is not None:
            factor *= cls.step_cost
    return factor


def steps_per_epoch(cell: Cell, seed: int, cache: dict[str, int | None]) -> int | None:
    """Training steps per epoch of the cell's data (built once per dataset row); None if unavailable."""
    from lpg_meta.data import build_data
    from lpg_meta.data.build import nominal_train_size
    from lpg_meta.train.trainer import steps_in_epoch

    if cell.dataset not in cache:
        cfg = cell.config(seed)
        n: int | None
        try:
            n = nominal_train_size(cfg["dataset"], cfg["data"])
            if n is None:  # no fixed pool: build the data to count
                n = len(build_data(cfg["dataset"], cfg["data"], seed).train.y)
        except UserError:  # e.g. an image folder not on disk yet: still list the cell
            n = None
        cache[cell.dataset] = None if n is None else steps_in_epoch(n, cfg["train"]["batch_size"])
    return cache[cell.dataset]


def default_step_seconds(cfg: dict[str, Any]) -> float:
    """Seconds per ce step of the cell's model and batch size on the reference machine."""
    if cfg["model"] not in MODEL_STEP_SECONDS:
        return STEP_SECONDS
    return MODEL_STEP_SECONDS[cfg["model"]] * cfg["train"]["batch_size"] / REFERENCE_BATCH


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
    steps = steps_per_epoch(cell, seed, cache.setdefault("steps", {}))
    cap = train_setting(cfg["train"], "max_steps_per_epoch")
    if steps is not None and cap:
        steps = min(steps, cap)
    per_step = cache.setdefault("step_s", {})
    if cell.dataset not in per_step:
        per_step[cell.dataset] = measured_step_seconds(output, cell.dataset)
    step_s = per_step[cell.dataset] or default_step_seconds(cfg)
    runs = trials_left * tuning_seeds + seeds_left
    seconds = None if steps is None else runs * epochs * steps * step_s * method_factor(cfg["method"])
    return {"cell": cell.name, "trials_left": trials_left, "seeds_left": seeds_left, "epochs": epochs,
            "steps_per_epoch": steps, "run_equivalents": runs, "seconds": seconds,
            "step_seconds": step_s, "step_seconds_measured": per_step[cell.dataset] is not None}


def _storage_exists(spec: str) -> bool:
    """Whether opening ``spec`` reads an existing store: opening a new sqlite or journal file creates it."""
    if spec.startswith("sqlite:///"):
        return Path(spec.removeprefix("sqlite:///")).exists()
    return "://" in spec or Path(spec).exists()


def dry_run(plan: Any) -> dict[str, Any]:
    """Estimate each cell's remaining work of a ``runner.Plan``; reads the storage if it exists, writes nothing."""
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
    return {"suite": suite.name, "output": str(plan.output), "storage": plan.storage, "dry_run": True,
            "cells": rows, "run_equivalents": sum(r["run_equivalents"] for r in rows),
            "seconds": sum(known), "seconds_unknown": len(rows) - len(known), "seeds": seed_design(suite)}


def seed_design(suite: Any) -> dict[str, Any]:
    """The suite's seeds, how they were fixed, the MDE they give, and the tuning seeds."""
    from lpg_meta.bench.seeds import mde

    rule = suite.seed_rule
    alpha, power = (rule.alpha, rule.power) if rule else (0.05, 0.8)
    return {"seeds": list(suite.seeds), "n": len(suite.seeds), "mde_sd": mde(len(suite.seeds), alpha, power),
            "alpha": alpha, "power": power, "effect_sd": rule.effect_sd if rule else None,
            "extra_seeds": sum(len(v) for v in suite.extra_seeds.values()), "tuning_seeds": list(suite.tuning.seeds)}
