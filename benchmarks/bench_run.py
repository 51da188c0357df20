"""Wall time of whole default runs: ``lpg`` (or another meta method) against ``ce``, per suite row.

Each run is one suite cell's untuned config (``lpg_meta.bench.cells``: the suite's defaults < the
dataset row < the method row < the method's defaults), so the bench follows the suite and the
methods' defaults as they change. Runs alternate, ce, lpg, ce, lpg, ..., one seed per repeat, so
that a machine's drift in speed falls on both; each lpg run's ratio is to the ce run of the same
repeat (same seed, same data, same epochs), and the reported ratio is the median of those, with
its minimum and maximum (also in process CPU time, which a shared machine moves less).
``--meta-interval``, ``--meta-batch-size`` and ``--backend`` override the meta method's own
(``--backend jvp fd`` runs one meta run per backend in each repeat).

Writes ``results/bench/run_cost.json``: per row and variant the wall times, the ratios, the
last-epoch test balanced accuracies, each run's resolved meta settings, and the CPU model, torch
version, git commit, threads and load average (before and after) of the machine.

Usage: ``python benchmarks/bench_run.py [--rows mnist1d_lt digits_sym] [--method lpg]
[--seeds 0 1 2] [--meta-interval K] [--backend jvp fd] [--threads 1] [--out PATH]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from lpg_meta.bench.cells import expand
from lpg_meta.bench.schema import load_suite
from lpg_meta.results import cpu_info, git_commit, write_json_atomic
from lpg_meta.train.trainer import train

OUT = Path("results/bench/run_cost.json")


def timed_run(cfg: dict[str, Any], threads: int, **train_overrides: Any) -> dict[str, Any]:
    """Train ``cfg`` on ``threads`` threads; its wall time, accuracy and resolved meta settings.

    ``train_overrides`` replace ``train`` settings (tests shorten the run with them).
    """
    cfg = {**cfg, "train": {**cfg["train"], "threads": threads, "progress": "none", **train_overrides}}
    start, cpu_start = time.perf_counter(), time.process_time()
    result = train(cfg)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    meta = next((v for v in result.values() if isinstance(v, dict) and "backend" in v), {})
    return {
        "seconds": seconds,
        # Process CPU time: on a shared machine it moves less with the other jobs than wall time.
        "cpu_seconds": cpu_seconds,
        "balanced_accuracy": result["metrics"]["test"]["balanced_accuracy"],
        "accuracy": result["metrics"]["test"]["accuracy"],
        "steps": result["timing"]["steps"],
        "backend": meta.get("backend"),
        "meta_interval": cfg["method_params"].get("meta_interval"),
        "meta_batch_size": cfg["method_params"].get("meta_batch_size"),
        "time_meta_s": meta.get("time_meta_s"),
    }


def spread(values: list[float]) -> dict[str, float]:
    """Median, minimum and maximum."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def bench_row(suite: Any, row: str, method: str, overrides: list[dict[str, Any]], seeds: list[int],
              threads: int, train_overrides: dict[str, Any]) -> dict[str, Any]:
    """Alternate ce and each variant of ``method`` on ``row``, one repeat per seed."""
    cells = {c.method: c for c in expand(suite, only=f"{row}/*") if c.method in ("ce", method)}
    names = [_variant_name(method, o) for o in overrides]
    runs: dict[str, list[dict[str, Any]]] = {"ce": [], **{n: [] for n in names}}
    # Untimed: the first run in a process pays one-time costs (imports, allocator, kernels' first
    # calls) that would fall on whichever method came first.
    for cell, override in ((cells["ce"], {}), *((cells[method], o) for o in overrides)):
        timed_run(cell.config(seeds[0], override), threads, epochs=1, max_steps_per_epoch=3)
    for seed in seeds:
        runs["ce"].append({"seed": seed, **timed_run(cells["ce"].config(seed), threads, **train_overrides)})
        for name, override in zip(names, overrides, strict=True):
            rec = timed_run(cells[method].config(seed, override), threads, **train_overrides)
            runs[name].append({"seed": seed, **rec})
            print(f"{row} seed {seed}: ce {runs['ce'][-1]['seconds']:.1f} s, {name} {rec['seconds']:.1f} s "
                  f"(x{rec['seconds'] / runs['ce'][-1]['seconds']:.2f})", flush=True)
    out: dict[str, Any] = {"row": row, "config_ce": cells["ce"].config(seeds[0]), "variants": {}}
    for name, recs in runs.items():
        entry: dict[str, Any] = {
            "runs": recs,
            "seconds": spread([r["seconds"] for r in recs]),
            "balanced_accuracy": spread([r["balanced_accuracy"] for r in recs]),
        }
        if name != "ce":
            pairs = list(zip(recs, runs["ce"], strict=True))
            entry["ratio_to_ce"] = spread([r["seconds"] / c["seconds"] for r, c in pairs])
            entry["cpu_ratio_to_ce"] = spread([r["cpu_seconds"] / c["cpu_seconds"] for r, c in pairs])
        out["variants"][name] = entry
    return out


def _variant_name(method: str, override: dict[str, Any]) -> str:
    return method + "".join(f"[{k}={v}]" for k, v in override.items())


def _overrides(args: argparse.Namespace) -> list[dict[str, Any]]:
    base = {} if args.meta_interval is None else {"meta_interval": args.meta_interval}
    if args.meta_batch_size is not None:
        base["meta_batch_size"] = args.meta_batch_size
    return [{**base, "backend": b} for b in args.backend] if args.backend else [base]


def _load() -> list[float]:
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="benchmarks/cpu.yaml")
    parser.add_argument("--rows", nargs="*", default=["mnist1d_lt", "digits_sym"],
                        help="suite dataset rows (default: one long-tail, one noisy)")
    parser.add_argument("--method", default="lpg", help="the suite method row timed against ce")
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2], help="one repeat per seed")
    parser.add_argument("--meta-interval", type=int, help="override the method's meta_interval")
    parser.add_argument("--meta-batch-size", type=int, help="override the method's meta_batch_size")
    parser.add_argument("--backend", nargs="*", help="override the method's backend (one run per value)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, help="override the rows' epochs (a quick check, not the bench)")
    parser.add_argument("--max-steps-per-epoch", type=int, help="truncate epochs (a quick check, not the bench)")
    parser.add_argument("--note", default="", help="free text stored with the record (e.g. 'machine shared')")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    suite = load_suite(args.suite)
    load_before = _load()
    started = time.time()
    short = {k: v for k, v in (("epochs", args.epochs), ("max_steps_per_epoch", args.max_steps_per_epoch)) if v}
    rows = [bench_row(suite, row, args.method, _overrides(args), args.seeds, args.threads, short)
            for row in args.rows]
    record = {
        "suite": args.suite, "method": args.method, "seeds": args.seeds, "threads": args.threads,
        "overrides": _overrides(args), "train_overrides": short, "rows": rows, "wall_seconds": time.time() - started,
        "cpu": cpu_info(), "torch": torch.__version__, **git_commit(),
        "load_average_before": load_before, "load_average_after": _load(), "note": args.note,
    }
    write_json_atomic(args.out, record)
    for row in rows:
        for name, v in row["variants"].items():
            ratio, cpu = v.get("ratio_to_ce"), v.get("cpu_ratio_to_ce")
            print(f"{row['row']:12s} {name:28s} {v['seconds']['median']:7.1f} s  balanced acc "
                  f"{v['balanced_accuracy']['median']:.3f}"
                  + (f"  x{ratio['median']:.2f} ({ratio['min']:.2f}-{ratio['max']:.2f}), cpu time "
                     f"x{cpu['median']:.2f} ({cpu['min']:.2f}-{cpu['max']:.2f})" if ratio else ""))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
