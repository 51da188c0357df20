"""``lpg-meta quick`` (``make quick``): ce against lpg on long-tail MNIST-1D, several seeds, side by side."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from tabulate import tabulate

from lpg_meta.config import merge, parse_overrides, resolve_config
from lpg_meta.results import RESULT_NAME, load_finished_file
from lpg_meta.train.trainer import train

METHODS = ("ce", "lpg")
SETTING = {"dataset": "mnist1d", "data": {"imbalance": 100.0}, "train": {"progress": "log"}}


def run_or_load(cfg: dict[str, Any], out: Path) -> dict[str, Any]:
    """Train ``cfg`` unless ``out/result.json`` already holds a finished run of it (a stale
    result or checkpoint of another config in ``out`` is replaced: this command owns the folder)."""
    done = load_finished_file(out / RESULT_NAME, cfg)
    return done if done is not None else train(cfg, out, foreign_checkpoint="restart")


def _mean_std(values: list[float]) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):.2f} ± {100 * std:.2f}"


def quick(out: Path, seeds: list[int], overrides: list[str]) -> list[list[str]]:
    """Run (or load) every method and seed, print and return the comparison table.

    ``overrides`` are ``--set`` items for both methods, except ``method.*`` items: lpg's only.
    """
    started = time.perf_counter()
    rows = []
    for method in METHODS:
        results = []
        for seed in seeds:
            extra = parse_overrides(overrides)
            if method == "ce":  # method.* settings are lpg's; ce has none
                extra.pop("method_params", None)
            raw = merge(merge(SETTING, {"method": method, "seed": seed}), extra)
            cfg = resolve_config(raw)
            results.append(run_or_load(cfg, out / method / f"seed{seed}"))
        tests = [r["metrics"]["test"] for r in results]
        rows.append([
            method,
            _mean_std([t["balanced_accuracy"] for t in tests]),
            _mean_std([t["accuracy"] for t in tests]),
            _mean_std([t["few_shot"] for t in tests if t.get("few_shot") is not None] or [float("nan")]),
        ])
    headers = ["method", "balanced acc. %", "accuracy %", "few-shot acc. %"]
    print(f"\nlong-tail MNIST-1D (imbalance 100), seeds {seeds}, last-epoch test metrics:")
    print(tabulate(rows, headers=headers, tablefmt="github"))
    print(f"({time.perf_counter() - started:.0f}s; results under {out})")
    return rows
