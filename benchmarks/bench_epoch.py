"""Training throughput (images per second) of ``ce`` and ``lpg`` on ResNet-32, batch 128, 32x32.

Runs on CUDA when it is visible, else on the CPU, through the same pieces as ``lpg-meta train``
(``Accelerator`` for bf16 autocast and channels-last, the registered methods, the optimizer),
on random CIFAR-shaped batches already in memory: it measures the training step (for ``lpg``
its meta step included), not data loading or evaluation. Appends one record per method to
``results/bench/epoch.json`` (a JSON list): device, dtype, layout, threads, torch version,
steps timed, images/s (median over timed steps), and the ratio lpg/ce of the same invocation.

Usage: ``python benchmarks/bench_epoch.py [--steps 20] [--warmup 3] [--amp none|bf16]
[--channels-last auto|on|off] [--threads N] [--methods ce lpg] [--note TEXT] [--replace]``
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from lpg_meta.config import OPTIM_DEFAULTS
from lpg_meta.methods import StepInfo, TrainContext, build_method
from lpg_meta.models import build_model
from lpg_meta.results import git_commit, write_json_atomic
from lpg_meta.train.device import Accelerator, resolve_device
from lpg_meta.train.schedule import build_optimizer

BATCH = 128
SHAPE = (3, 32, 32)
NUM_CLASSES = 10
OUT = Path("results/bench/epoch.json")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)  # CUDA runs asynchronously: time finished work only


def measure(method: str, args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """Median images/s over ``args.steps`` timed training steps, after ``args.warmup`` untimed ones."""
    torch.manual_seed(0)
    train = {"amp": args.amp, "channels_last": {"auto": None, "on": True, "off": False}[args.channels_last]}
    acc = Accelerator(train, device)
    model = acc.prepare_model(build_model("resnet32", NUM_CLASSES, SHAPE, {}), train)
    optimizer = build_optimizer(model, OPTIM_DEFAULTS)
    gen = torch.Generator().manual_seed(0)
    # A fixed pool of batches on the device, so that host-to-device copies are not timed.
    pool = [(acc.to_device(torch.randn(BATCH, *SHAPE, generator=gen)),
             torch.randint(0, NUM_CLASSES, (BATCH,), generator=gen).to(device)) for _ in range(4)]

    def meta_batches(_size: int):
        i = 0
        while True:
            yield pool[i % len(pool)]
            i += 1

    ctx = TrainContext(NUM_CLASSES, [5000] * NUM_CLASSES, epochs=1, steps_per_epoch=10**6,
                       meta_batches=meta_batches, device=device)
    params = {} if method == "ce" else {"meta_batch_size": 100}  # MW-Net's meta batch of 100
    m = build_method(method, params, ctx)
    m.setup(model, optimizer)
    times = []
    for step in range(args.warmup + args.steps):
        x, y = pool[step % len(pool)]
        _sync(device)
        start = time.perf_counter()
        with acc.autocast():
            m.train_step(model, optimizer, x, y, StepInfo(epoch=0, step=step, steps_per_epoch=10**6, epochs=1))
        _sync(device)
        if step >= args.warmup:
            times.append(time.perf_counter() - start)
    step_s = statistics.median(times)
    return {
        "method": method, "model": "resnet32", "batch_size": BATCH, "input": list(SHAPE),
        "device": str(device),
        "device_name": (torch.cuda.get_device_name(device) if device.type == "cuda"
                        else platform.processor() or platform.machine()),
        "dtype": "bfloat16 autocast" if args.amp == "bf16" else "float32",
        "channels_last": acc.channels_last, "threads": torch.get_num_threads(),
        "torch": torch.__version__, "commit": git_commit(), "steps_timed": args.steps, "warmup_steps": args.warmup,
        "method_params": {k: v for k, v in m.params.items() if not isinstance(v, (dict, list))},
        # ``auto`` is resolved by setup() (jvp for one SGD step); the method holds the result.
        "meta_backend": getattr(m, "backend", None),
        "step_seconds": step_s, "step_seconds_all": times, "images_per_second": BATCH / step_s,
        "note": args.note,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps per method")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (allocator, cuDNN autotune)")
    parser.add_argument("--amp", choices=["none", "bf16"], default="none")
    parser.add_argument("--channels-last", choices=["auto", "on", "off"], default="auto",
                        help="auto: on for CUDA, off on the CPU (as train.channels_last)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--methods", nargs="*", default=["ce", "lpg"])
    parser.add_argument("--note", default="", help="free text stored with the records (e.g. 'machine shared')")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--replace", action="store_true", help="overwrite the file instead of appending")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    records = [measure(m, args, device) for m in args.methods]
    by_name = {r["method"]: r for r in records}
    if "ce" in by_name:
        for r in records:
            r["ratio_to_ce"] = by_name["ce"]["step_seconds"] and r["step_seconds"] / by_name["ce"]["step_seconds"]
    if "ce" in by_name and "lpg" in by_name:
        # images/s of lpg over images/s of ce: the fraction of CE's throughput LPG keeps.
        lpg, ce = by_name["lpg"], by_name["ce"]
        lpg["throughput_ratio_lpg_ce"] = lpg["images_per_second"] / ce["images_per_second"]
    old = [] if args.replace or not args.out.exists() else json.loads(args.out.read_text())
    write_json_atomic(args.out, old + records)
    for r in records:
        print(f"{r['method']:>4} {r['device']} {r['dtype']} channels_last={r['channels_last']} "
              f"threads={r['threads']}: {r['images_per_second']:.1f} images/s ({1000 * r['step_seconds']:.0f} ms/step)")


if __name__ == "__main__":
    main()
