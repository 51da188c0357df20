"""Which GPU each local worker of ``lpg-meta run --workers N`` trains on, and its CPU threads.

On a node with several GPUs every worker gets its own, round-robin over all visible ones or over
``--devices 0,1,...``: worker i uses ``devices[i % len(devices)]``, made its current CUDA device,
so a run's ``train.device`` of ``auto`` or ``cuda`` lands there (an explicit ``cuda:N`` still
wins). One GPU or none: nothing is assigned and runs go where ``train.device`` says.

CPU threads: a CPU worker keeps one torch thread (``runner.THREADS_PER_WORKER``: on small models
more threads only spin, and a run's numbers stay those of one thread). A GPU worker's CPU only
builds batches and launches kernels, so the cores available are shared out among the workers.
"""

from __future__ import annotations

import os

import torch

from lpg_meta.errors import UserError


def parse_devices(text: str | None) -> list[int] | None:
    """``--devices 0,1,3`` as GPU indexes (None when not given); each must be visible."""
    if text is None:
        return None
    try:
        devices = [int(part) for part in text.split(",")]
    except ValueError:
        raise UserError(f"--devices {text!r}: give GPU indexes separated by commas, e.g. --devices 0,1.") from None
    visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if not visible:
        raise UserError(f"--devices {text}: no CUDA device is visible here; leave --devices out to run on the CPU.")
    missing = [d for d in devices if not 0 <= d < visible]
    if missing:
        raise UserError(f"--devices {text}: no GPU {missing[0]} here; the visible ones are 0 to {visible - 1}.")
    return devices


def assign(workers: int, devices: list[int] | None = None) -> list[int | None]:
    """Each worker's GPU: round-robin over ``devices``, else over every visible GPU if there are several."""
    if devices is None:
        visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
        devices = list(range(visible)) if visible > 1 else []
    return [devices[i % len(devices)] if devices else None for i in range(workers)]


def cores() -> int:
    """The CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def threads_per_worker(workers: int, assignment: list[int | None], cpu_threads: int) -> int:
    """``cpu_threads`` for CPU workers; GPU workers share the available cores out."""
    if all(device is None for device in assignment):
        return cpu_threads
    return max(1, cores() // workers)


def describe(assignment: list[int | None], threads: int) -> str:
    """The first line of a multi-worker run: where each worker trains."""
    each = f"{threads} CPU thread{'s' if threads > 1 else ''} each"
    if all(d is None for d in assignment):
        return f"lpg-meta: {len(assignment)} workers on train.device's device; {each}"
    where = ", ".join(f"cuda:{d}" for d in assignment)
    return f"lpg-meta: {len(assignment)} worker{'s' if len(assignment) > 1 else ''} on {where}; {each}"


def use_device(device: int | None) -> None:
    """Make ``device`` this process's current CUDA device (before any run starts)."""
    if device is not None:
        torch.cuda.set_device(device)
