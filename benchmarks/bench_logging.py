"""What live logging costs per epoch: TensorBoard, MLflow (local SQLite store) and both.

One small run (MNIST-1D, ``--method``, ``--epochs``, one thread) is trained with each logger
set; the time spent in the trainer's logging hook (``LiveLog.epoch``: building the values and
writing them) is measured inside the run, so load on the machine from others blurs it less than
a difference of two runs' totals would. Opening the loggers (MLflow creates its tables, imports)
and closing them are timed apart: they happen once a run. Also recorded: each run's epoch time
without logging, to put the per-epoch cost in proportion.

Writes ``results/bench/logging_overhead.json``. Usage:
``python benchmarks/bench_logging.py [--method lpg_scale] [--epochs 5] [--samples 2000]``
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from lpg_meta.config import resolve_config
from lpg_meta.results import git_commit, write_json_atomic
from lpg_meta.train import loggers, trainer
from lpg_meta.train.trainer import train

OUT = Path("results/bench/logging_overhead.json")
SETS = {"none": [], "tensorboard": ["tensorboard"], "mlflow": ["mlflow"], "both": ["tensorboard", "mlflow"]}


def timed_run(method: str, epochs: int, samples: int, log: list[str], folder: str) -> dict[str, Any]:
    """Train once with ``log``; the seconds of the logging hook per epoch, of opening and closing."""
    epoch_s: list[float] = []
    opened: list[float] = []
    closed: list[float] = []
    real_epoch, real_close, real_open = loggers.LiveLog.epoch, loggers.LiveLog.close, trainer.open_live_log

    def epoch(self: loggers.LiveLog, *args: Any) -> None:
        start = time.perf_counter()
        real_epoch(self, *args)
        epoch_s.append(time.perf_counter() - start)

    def close(self: loggers.LiveLog) -> None:
        start = time.perf_counter()
        real_close(self)
        closed.append(time.perf_counter() - start)

    def open_live_log(cfg: dict[str, Any]) -> loggers.LiveLog:
        start = time.perf_counter()
        live = real_open(cfg)
        opened.append(time.perf_counter() - start)
        return live

    cfg = resolve_config({"dataset": "mnist1d", "method": method, "data": {"num_samples": samples},
                          "train": {"epochs": epochs, "threads": 1, "progress": "none", "log": log,
                                    "log_dir": folder}})
    loggers.LiveLog.epoch, loggers.LiveLog.close, trainer.open_live_log = epoch, close, open_live_log
    try:
        result = train(cfg)
    finally:
        loggers.LiveLog.epoch, loggers.LiveLog.close, trainer.open_live_log = real_epoch, real_close, real_open
    total = result["timing"]["seconds_total"]
    return {"log": log, "seconds_total": total, "seconds_per_epoch": total / epochs,
            "hook_seconds_per_epoch_median": statistics.median(epoch_s), "hook_seconds_per_epoch": epoch_s,
            "open_seconds": opened[0], "close_seconds": closed[0],
            "hook_share_of_epoch": statistics.median(epoch_s) / (total / epochs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="lpg_scale")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    torch.set_num_threads(1)
    runs = {}
    for name, log in SETS.items():
        with tempfile.TemporaryDirectory() as folder:
            runs[name] = timed_run(args.method, args.epochs, args.samples, log, folder)
            print(f"{name}: hook {1000 * runs[name]['hook_seconds_per_epoch_median']:.2f} ms/epoch, open "
                  f"{runs[name]['open_seconds']:.2f} s, epoch {runs[name]['seconds_per_epoch']:.2f} s", flush=True)
    record = {"method": args.method, "dataset": "mnist1d", "epochs": args.epochs, "num_samples": args.samples,
              "threads": 1, "machine": platform.machine(), "torch": torch.__version__, **git_commit(), "runs": runs}
    write_json_atomic(args.out, record)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
