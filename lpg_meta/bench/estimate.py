"""``--dry-run`` cost estimate: how much training each cell still needs.

The unit is a *run-equivalent*: one full training run of the cell's config. A trial counts as
one (pruned trials stop early, so this is an upper bound); each seed still to run counts as
one. Seconds are ``run-equivalents x epochs x steps/epoch x seconds/step x method factor``:
seconds/step is measured from finished runs of the same dataset row in the output folder when
there are some, else ``STEP_SECONDS``; the method factor is a step's cost relative to plain
cross-entropy (sam 2: two passes; meta-learned LPG about 5: virtual step, meta gradient
through it, real step). Both were measured on the 2-core reference machine, one thread,
MNIST-1D with cnn1d and batch 128 (ce 4 ms/step, sam 8, lpg and lpg_scale 22, evaluation
included). It ignores start-up (imports, data generation) and scales with model size only
through the measured seconds/step.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from lpg_meta.bench.cells import Cell
from lpg_meta.errors import UserError

STEP_SECONDS = 0.004  # see above
COST_BY_KIND = {"meta": 5.0}
COST_BY_NAME = {"sam": 2.0}


def method_factor(name: str) -> float:
    """Cost of a step relative to plain cross-entropy (a plug-in multiplies its base's)."""
    from lpg_meta.methods import method_classes

    factor = 1.0
    for cls in method_classes(name):
        if cls is not None:
            factor *= COST_BY_NAME.get(cls.name, COST_BY_KIND.get(cls.kind, 1.0))
    return factor


def steps_per_epoch(cell: Cell, seed: int, cache: dict[str, int | None]) -> int | None:
    """Training steps per epoch of the cell's data (built once per dataset row); None if unavailable."""
    from lpg_meta.data import build_data
    from lpg_meta.train.trainer import steps_in_epoch

    if cell.dataset not in cache:
        cfg = cell.config(seed)
        try:
            n = len(build_data(cfg["dataset"], cfg["data"], seed).train.y)
            cache[cell.dataset] = steps_in_epoch(n, cfg["train"]["batch_size"])
        except UserError:  # e.g. CIFAR not on disk yet: still list the cell
            cache[cell.dataset] = None
    return cache[cell.dataset]


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
                  cache: dict[str, Any]) -> dict[str, Any]:
    """The dry-run row of one cell."""
    cfg = cell.config(seed)
    epochs = cfg["train"]["epochs"]
    steps = steps_per_epoch(cell, seed, cache.setdefault("steps", {}))
    per_step = cache.setdefault("step_s", {})
    if cell.dataset not in per_step:
        per_step[cell.dataset] = measured_step_seconds(output, cell.dataset)
    step_s = per_step[cell.dataset] or STEP_SECONDS
    runs = trials_left + seeds_left
    seconds = None if steps is None else runs * epochs * steps * step_s * method_factor(cfg["method"])
    return {"cell": cell.name, "trials_left": trials_left, "seeds_left": seeds_left, "epochs": epochs,
            "steps_per_epoch": steps, "run_equivalents": runs, "seconds": seconds,
            "step_seconds_measured": per_step[cell.dataset] is not None}


def dry_run(plan: Any) -> dict[str, Any]:
    """Estimate each cell's remaining work of a ``runner.Plan``; reads the storage if it exists, writes nothing."""
    from lpg_meta.bench import tuning
    from lpg_meta.bench.cells import load_finished

    suite = plan.suite
    exists = "://" in plan.storage or Path(plan.storage).exists()  # never create a journal file here
    cache: dict[str, Any] = {}
    rows = []
    for cell in plan.cells:
        tuned = plan.tuned(cell)
        study = tuning.get_study(cell, suite.tuning, plan.storage) if exists and tuned else None
        finished, running = tuning.counts(study)
        trials_left = max(0, suite.tuning.trials - finished) if tuned else 0
        seeds_left = len(suite.seeds)
        if trials_left == 0 and not running:  # best parameters known: look for finished seeds
            params = tuning.best(study, cell)[0] if tuned else {}
            seeds_left = sum(load_finished(cell.run_dir(plan.output, s), cell.config(s, params)) is None
                             for s in suite.seeds)
        rows.append(estimate_cell(cell, trials_left, seeds_left, suite.seeds[0], plan.output, cache))
    known = [r["seconds"] for r in rows if r["seconds"] is not None]
    return {"suite": suite.name, "output": str(plan.output), "storage": plan.storage, "dry_run": True,
            "cells": rows, "run_equivalents": sum(r["run_equivalents"] for r in rows),
            "seconds": sum(known), "seconds_unknown": len(rows) - len(known)}
