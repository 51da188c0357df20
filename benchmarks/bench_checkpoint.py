"""What checkpoints cost: a ResNet-32 checkpoint against its training step, and one CPU-suite row.

1. ``resnet32`` (CIFAR-shaped random batches of 128 in memory, no download), trained with
   ``lpg`` (the largest method state: phi and its Adam moments besides the model and SGD's
   momentum): the median time of a training step and of a checkpoint write (the trainer's own
   ``Checkpointer`` and snapshot contents: model, optimizer, scheduler, method, RNG, order), its
   size, and the share of an epoch (391 steps, CIFAR's 50,000 images) one write per epoch costs.
2. One row of ``benchmarks/cpu.yaml`` (``--row``, default ``mnist1d_bal``; ``--methods``),
   trained as the suite trains it (one thread) three ways: no checkpoints, the defaults, and a
   checkpoint after every epoch (``checkpoint_budget: null``): each run's total time and the
   time its checkpoint writes took (``timing.seconds_checkpointing``, measured inside the run,
   so other load on the machine does not blur it).

Writes ``results/bench/checkpoint.json``. Usage:
``python benchmarks/bench_checkpoint.py [--steps 4] [--writes 5] [--net-method lpg] [--row mnist1d_bal]
[--methods ce lpg]``
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

from lpg_meta.bench.cells import expand
from lpg_meta.bench.schema import load_suite
from lpg_meta.config import OPTIM_DEFAULTS, resolve_config
from lpg_meta.methods import StepInfo, TrainContext, build_method
from lpg_meta.models import build_model
from lpg_meta.results import git_commit, write_json_atomic
from lpg_meta.train.batches import BatchOrder
from lpg_meta.train.checkpoint import CHECKPOINT_NAME, Checkpointer, rng_states
from lpg_meta.train.schedule import build_optimizer, build_scheduler
from lpg_meta.train.trainer import train

OUT = Path("results/bench/checkpoint.json")
BATCH, SHAPE, CLASSES, CIFAR_STEPS = 128, (3, 32, 32), 10, 391


def resnet32(steps: int, writes: int, method_name: str = "lpg") -> dict[str, Any]:
    """Median seconds of a resnet32 step and of a checkpoint write of its whole state."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    pool = [(torch.randn(BATCH, *SHAPE, generator=gen), torch.randint(0, CLASSES, (BATCH,), generator=gen))
            for _ in range(2)]

    class MetaBatches:  # the pool, with the state a real stream checkpoints (a 1,000-image meta split)
        def __init__(self) -> None:
            self.i, self.order = 0, BatchOrder(1000, 100, torch.Generator().manual_seed(1))
            self.order.start_pass()

        def __next__(self):
            self.i += 1
            return pool[self.i % 2]

        def state_dict(self) -> dict[str, Any]:
            return self.order.state_dict()

    def meta_batches(_size: int) -> MetaBatches:
        return MetaBatches()

    model = build_model("resnet32", CLASSES, SHAPE, {})
    optimizer = build_optimizer(model, OPTIM_DEFAULTS)
    scheduler = build_scheduler(optimizer, CIFAR_STEPS, 200, OPTIM_DEFAULTS)
    ctx = TrainContext(CLASSES, [5000] * CLASSES, epochs=200, steps_per_epoch=CIFAR_STEPS, meta_batches=meta_batches)
    method = build_method(method_name, {"meta_batch_size": 100} if method_name == "lpg" else {}, ctx)
    method.setup(model, optimizer)
    step_s = []
    for i in range(steps + 1):  # the first step is a warm-up
        start = time.perf_counter()
        method.train_step(model, optimizer, *pool[i % 2], StepInfo(0, i, CIFAR_STEPS, 200))
        scheduler.step()
        step_s.append(time.perf_counter() - start)
    order = BatchOrder(50_000, BATCH, torch.Generator().manual_seed(0))
    order.start_pass()
    cfg = resolve_config({"dataset": "mnist1d", "train": {"checkpoint_budget": None}})
    write_s = []
    with tempfile.TemporaryDirectory() as folder:
        ckpt = Checkpointer(folder, cfg)
        for _ in range(writes):
            start = time.perf_counter()
            ckpt.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                       "scheduler": scheduler.state_dict(), "method": method.state_dict(),
                       "order": order.state_dict(), "rng": rng_states(), "history": [], "losses": []})
            write_s.append(time.perf_counter() - start)
        size = (Path(folder) / CHECKPOINT_NAME).stat().st_size
    step, write = statistics.median(step_s[1:]), statistics.median(write_s)
    return {"model": "resnet32", "method": method_name, "batch_size": BATCH, "device": "cpu",
            "step_seconds": step, "step_seconds_all": step_s[1:], "write_seconds": write, "write_seconds_all": write_s,
            "checkpoint_bytes": size, "epoch_steps": CIFAR_STEPS,
            "overhead_one_write_per_epoch": write / (CIFAR_STEPS * step)}


def cpu_row(row: str, method: str) -> dict[str, Any]:
    """The suite's run of ``row``/``method`` (seed 0) without, with default and with every-epoch checkpoints."""
    cell = next(c for c in expand(load_suite("benchmarks/cpu.yaml")) if c.name == f"{row}/{method}")
    out: dict[str, Any] = {"row": row, "method": method, "epochs": cell.config(0, {})["train"]["epochs"]}
    for name, settings in (("none", {"checkpoint_every": 0, "checkpoint_minutes": 0.0}), ("default", {}),
                           ("every_epoch", {"checkpoint_budget": None})):
        cfg = cell.config(0, {})
        cfg["train"].update({"threads": 1, "progress": "none", **settings})
        with tempfile.TemporaryDirectory() as folder:
            timing = train(cfg, folder)["timing"]
        total, writing = timing["seconds_total"], timing.get("seconds_checkpointing", 0.0)
        out[name] = {"seconds_total": total, "checkpoints": timing.get("checkpoints", 0),
                     "seconds_checkpointing": writing, "overhead": writing / total}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--writes", type=int, default=5)
    parser.add_argument("--net-method", default="lpg", help="the method resnet32 trains with")
    parser.add_argument("--row", default="mnist1d_bal")
    parser.add_argument("--methods", nargs="+", default=["ce", "lpg"])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    torch.set_num_threads(1)
    record = {"torch": torch.__version__, "threads": 1, "platform": platform.platform(), "commit": git_commit(),
              "resnet32": resnet32(args.steps, args.writes, args.net_method),
              "cpu_rows": [cpu_row(args.row, m) for m in args.methods]}
    write_json_atomic(args.out, record)
    r = record["resnet32"]
    print(f"resnet32 {r['method']}: step {r['step_seconds']:.3f}s, checkpoint {r['write_seconds']:.3f}s "
          f"({r['checkpoint_bytes'] / 1e6:.1f} MB): {100 * r['overhead_one_write_per_epoch']:.3f}% of an epoch")
    for row in record["cpu_rows"]:
        print(f"{row['row']}/{row['method']}: " + ", ".join(
            f"{k} {row[k]['seconds_total']:.2f}s, {row[k]['checkpoints']} checkpoints, "
            f"{100 * row[k]['overhead']:.2f}%" for k in ("none", "default", "every_epoch")))


if __name__ == "__main__":
    main()
