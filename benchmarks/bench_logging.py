"""What live logging costs per epoch: TensorBoard, MLflow (local SQLite store) and both.

One small run (MNIST-1D, ``--method``, ``--epochs``, one thread) is trained with each logger
set; the time spent in the trainer's logging hook (``LiveLog.epoch``: building the values and
writing them) is measured inside the run, so load on the machine from others blurs it less than
a difference of two runs' totals would. Opening the loggers (MLflow creates its tables, imports)
and closing them are timed apart: they happen once a run (the first open in a process also
imports the library, and MLflow's first creates its store; ``reopen_seconds`` is a later run's).
Also recorded: the median epoch time (between two epochs' hooks), to put the cost in proportion.

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
    called_at: list[float] = []  # when each epoch's hook ran: the epochs' durations lie between
    opened: list[float] = []
    closed: list[float] = []
    real_epoch, real_close, real_open = loggers.LiveLog.epoch, loggers.LiveLog.close, trainer.open_live_log

    def epoch(self: loggers.LiveLog, *args: Any) -> None:
        start = time.perf_counter()
        called_at.append(start)
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
    start = time.perf_counter()  # the next run of a suite: the store exists, the libraries are imported
    real_open(cfg).close()
    reopen = time.perf_counter() - start
    epoch_time = statistics.median(b - a for a, b in zip(called_at, called_at[1:], strict=False))
    return {"log": log, "seconds_total": total, "epoch_seconds_median": epoch_time,
            "hook_seconds_per_epoch_median": statistics.median(epoch_s), "hook_seconds_per_epoch": epoch_s,
            "open_seconds": opened[0], "reopen_seconds": reopen, "close_seconds": closed[0],
            "hook_share_of_epoch": statistics.median(epoch_s) / epoch_time}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="lpg_scale")
    parser.add_argument("--epochs", type=int, default=5, help="at least 2")
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    torch.set_num_threads(1)
    runs = {}
    for name, log in SETS.items():
        with tempfile.TemporaryDirectory() as folder:
            runs[name] = timed_run(args.method, args.epochs, args.samples, log, folder)
            run = runs[name]
            print(f"{name}: hook {1000 * run['hook_seconds_per_epoch_median']:.2f} ms/epoch, open "
                  f"{run['open_seconds']:.2f} s (again {run['reopen_seconds']:.2f} s), "
                  f"epoch {run['epoch_seconds_median']:.2f} s", flush=True)
    record = {"method": args.method, "dataset": "mnist1d", "epochs": args.epochs, "num_samples": args.samples,
              "threads": 1, "machine": platform.machine(), "torch": torch.__version__, **git_commit(), "runs": runs}
    write_json_atomic(args.out, record)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
