"""Cost of one training step (time and peak memory) for ce and the meta methods' backends.

Writes ``results/bench/meta_step.json``: a JSON list of records, one per (model, method, backend,
meta_interval), each with ``step_seconds`` (median over timed blocks of ``meta_interval`` steps,
per step, after warm-up; ``step_cpu_seconds`` the same in process CPU time), ``peak_mb`` (peak
RSS of the process, the torch runtime and data included), ``peak_delta_mb`` (peak RSS minus the
RSS right after the model was built: what training adds), their ratios to ce, and a small
provenance (torch version, git commit). Each configuration runs in its own subprocess, so that
its peak memory is its own (its ratio is to the ce record of the same run). Its time ratio is to
a ce model timed in the same process, block by block in alternation (``measure``), because the
speed of a virtual machine drifts between and within runs: ``ce_step_seconds`` is that ce.

One more record per model, method ``floor``, times the passes that any exact one-step
look-ahead with a shared forward has to make, and nothing else: the train forward at theta,
the virtual step's backward, the meta forward and backward at theta', and the real backward with
its SGD step. Its ratio to ``ce`` is a floor under the cost of ``jvp`` (which adds one
forward-mode JVP of the train logits and the perturbation's own work; ``fd`` replaces that JVP
with two plain forwards).

Usage: ``python benchmarks/bench_meta_step.py [--blocks N] [--only cnn1d|resnet32]
[--methods lpg mwnet gdw] [--backends higher torchfunc jvp fd] [--intervals 1 5] [--meta-batch M]
[--device cpu|cuda] [--out PATH]``
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from lpg_meta.config import OPTIM_DEFAULTS
from lpg_meta.methods import METHODS, StepInfo, TrainContext, build_method
from lpg_meta.models import build_model
from lpg_meta.results import git_commit, write_json_atomic
from lpg_meta.train.schedule import build_optimizer

MODELS = {"cnn1d": (1, 40), "resnet32": (3, 32, 32)}
BATCH = 128
NUM_CLASSES = 10
# Meta methods that take the backend, meta_interval and meta_batch_size settings.
META_METHODS = ("lpg", "mwnet", "gdw")


def _batches(shape, generator, size=BATCH, device="cpu"):
    while True:
        x = torch.randn(size, *shape, generator=generator)
        y = torch.randint(0, NUM_CLASSES, (size,), generator=generator)
        yield x.to(device), y.to(device)


class _Floor:
    """The passes of an exact one-step look-ahead with a shared forward, without a perturbation.

    Args:
        meta_batches: an iterator of meta batches.
    """

    def __init__(self, meta_batches) -> None:
        self.meta_batches = meta_batches

    def train_step(self, model, optimizer, x, y, _info) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        names, params = zip(*model.named_parameters(), strict=True)
        grads = torch.autograd.grad(loss, params, retain_graph=True)  # the virtual step's
        with torch.no_grad():
            fast = [(p - 0.1 * g).requires_grad_() for p, g in zip(params, grads, strict=True)]
        buffers = {k: b.clone() for k, b in model.named_buffers()}
        x_m, y_m = next(self.meta_batches)
        at_fast = {**dict(zip(names, fast, strict=True)), **buffers}
        logits = torch.func.functional_call(model, at_fast, (x_m,))
        torch.autograd.grad(F.cross_entropy(logits, y_m), fast)  # v at theta'
        loss.backward()  # the real step's, through the same forward
        optimizer.step()


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _rss_mb() -> float:
    """Current resident set size (not the peak); the peak where /proc is missing."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return _peak_rss_mb()
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _runner(model_name: str, method: str, backend: str | None, interval: int, meta_batch: int,
            device: str = "cpu"):
    """A model, optimizer and method set up as the trainer does; returns ``(run_steps, rss)``.

    ``run_steps(n)`` trains ``n`` more steps on fresh random batches; ``rss`` is the resident set
    size right after the model was built.
    """
    torch.manual_seed(0)
    shape = MODELS[model_name]
    gen = torch.Generator().manual_seed(0)
    model = build_model(model_name, NUM_CLASSES, shape, {}).to(device)
    rss_built = _rss_mb()
    optimizer = build_optimizer(model, OPTIM_DEFAULTS)
    meta_gen = torch.Generator().manual_seed(1)
    ctx = TrainContext(
        NUM_CLASSES,
        [100] * NUM_CLASSES,
        epochs=1,
        steps_per_epoch=10**6,
        meta_batches=lambda size: _batches(shape, meta_gen, size, device),
        device=torch.device(device),
    )
    params = {"backend": backend, "meta_interval": interval, "meta_batch_size": meta_batch}
    if method == "floor":
        m = _Floor(_batches(shape, meta_gen, meta_batch, device))
    else:
        m = build_method(method, {} if method == "ce" else params, ctx)
        m.setup(model, optimizer)
    data = _batches(shape, gen, device=device)
    steps = itertools.count()

    def run_steps(n: int) -> None:
        for _ in range(n):
            x, y = next(data)
            info = StepInfo(epoch=0, step=next(steps), steps_per_epoch=10**6, epochs=1)
            m.train_step(model, optimizer, x, y, info)

    return run_steps, rss_built


def _timed(run_steps, n: int) -> tuple[float, float]:
    """Wall and process CPU seconds per step of ``run_steps(n)``."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()  # time finished GPU work only
    start, cpu_start = time.perf_counter(), time.process_time()
    run_steps(n)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / n, (time.process_time() - cpu_start) / n


def measure(
    model_name: str,
    method: str,
    backend: str | None,
    interval: int,
    blocks: int,
    warmup: int,
    meta_batch: int = BATCH,
    device: str = "cpu",
) -> dict:
    """Peak memory of one configuration, and its time per step against ce, in this process.

    After ``warmup`` blocks of ``interval`` steps (the peak RSS is read then, before anything
    else is built), a ce model of the same kind is set up beside it, and ``blocks`` rounds each
    time one block of ce and one block of the configuration. A virtual machine's speed drifts
    over seconds to minutes; the ratio of the two blocks of a round does not carry that drift,
    and the reported ratio is the median over rounds.
    """
    run, rss_built = _runner(model_name, method, backend, interval, meta_batch, device)
    run(warmup * interval)
    peak = _peak_rss_mb()
    gpu_peak = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None
    ce_run = run if method == "ce" else _runner(model_name, "ce", None, 1, meta_batch, device)[0]
    if method != "ce":
        ce_run(warmup)
    rounds = [(_timed(ce_run, interval), _timed(run, interval)) for _ in range(blocks)]
    ce_times = [ce[0] for ce, _ in rounds]
    times, cpu_times = [t[0] for _, t in rounds], [t[1] for _, t in rounds]
    return {
        "model": model_name,
        "method": method,
        "backend": backend,
        "meta_interval": interval,
        "batch_size": BATCH,
        "meta_batch_size": None if method == "ce" else meta_batch,
        "step_seconds": statistics.median(times),
        "step_seconds_all": times,
        # Process CPU time: less sensitive than wall time to other jobs on a shared machine.
        "step_cpu_seconds": statistics.median(cpu_times),
        "ce_step_seconds": statistics.median(ce_times),
        "ce_step_seconds_all": ce_times,
        "ratio_to_ce": statistics.median(t[0] / ce[0] for ce, t in rounds),
        "cpu_ratio_to_ce": statistics.median(t[1] / ce[1] for ce, t in rounds),
        "peak_mb": peak,
        "peak_delta_mb": peak - rss_built,
        "rss_after_build_mb": rss_built,
        "threads": torch.get_num_threads(),
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "gpu_peak_mb": gpu_peak,  # torch's peak allocation on the GPU during warm-up (CUDA only)
    }


def _run_child(spec: dict, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--one", json.dumps(spec)]
    cmd += ["--blocks", str(args.blocks), "--warmup", str(args.warmup)]
    cmd += ["--meta-batch", str(args.meta_batch), "--device", args.device]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--only", choices=sorted(MODELS), nargs="*", default=sorted(MODELS))
    registered = [m for m in META_METHODS if m in METHODS]
    parser.add_argument("--methods", choices=registered, nargs="*", default=registered)
    parser.add_argument("--backends", nargs="*", default=["higher", "torchfunc", "jvp", "fd"])
    parser.add_argument("--intervals", type=int, nargs="*", default=[1, 5])
    parser.add_argument("--meta-batch", type=int, default=BATCH)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--out", default="results/bench/meta_step.json")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:  # child process: one configuration
        spec = json.loads(args.one)
        print(
            json.dumps(
                measure(**spec, blocks=args.blocks, warmup=args.warmup, meta_batch=args.meta_batch,
                        device=args.device)
            )
        )
        return

    commit = git_commit()
    prov = {"torch": torch.__version__, **commit}
    records = []
    for model_name in args.only:
        specs = [dict(model_name=model_name, method="ce", backend=None, interval=1)]
        specs += [dict(model_name=model_name, method="floor", backend=None, interval=1)]
        specs += [
            dict(model_name=model_name, method=m, backend=b, interval=i)
            for m in args.methods
            for i in args.intervals
            for b in args.backends
        ]
        ce = None
        for spec in specs:
            rec = _run_child(spec, args)
            ce = ce or rec  # the first spec: ce alone, the reference for peak memory
            rec["peak_ratio_to_ce"] = rec["peak_mb"] / ce["peak_mb"]
            rec["peak_delta_ratio_to_ce"] = rec["peak_delta_mb"] / ce["peak_delta_mb"]
            rec["provenance"] = prov
            records.append(rec)
            print(
                f"{rec['model']:9s} {rec['method']:5s} {str(rec['backend']):9s} "
                f"interval {rec['meta_interval']}: {1000 * rec['step_seconds']:8.1f} ms/step "
                f"x{rec['ratio_to_ce']:.2f} (cpu x{rec['cpu_ratio_to_ce']:.2f})  peak {rec['peak_mb']:.0f} MB "
                f"(x{rec['peak_ratio_to_ce']:.2f}), delta {rec['peak_delta_mb']:.0f} MB "
                f"(x{rec['peak_delta_ratio_to_ce']:.2f})",
                flush=True,
            )
    write_json_atomic(Path(args.out), records)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
