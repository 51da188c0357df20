"""The training loop: config -> data -> model and method -> epochs -> result.json."""

from __future__ import annotations

import itertools
import math
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lpg_meta.collapse import history_collapse
from lpg_meta.config import train_setting
from lpg_meta.data import DataBundle, Split, build_data
from lpg_meta.errors import TrainingDivergedError
from lpg_meta.methods import Method, StepInfo, TrainContext, build_method
from lpg_meta.models import build_model
from lpg_meta.results import (
    PER_EPOCH_METRICS,
    RESULT_NAME,
    history_key,
    provenance,
    write_json_atomic,
)
from lpg_meta.train.device import Accelerator, EpochBatches, WorkerBatches, resolve_device
from lpg_meta.train.metrics import classification_metrics
from lpg_meta.train.progress import Progress
from lpg_meta.train.schedule import build_optimizer, build_scheduler

EpochCallback = Callable[[int, dict[str, Any]], None]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch; CPU kernels are then deterministic."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def batch_indices(
    n: int, batch_size: int, generator: torch.Generator, shuffle: bool = True
) -> Iterator[torch.Tensor]:
    """Yield mini-batch indices; a last batch smaller than half a batch is dropped when shuffling."""
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        if shuffle and len(idx) < max(2, batch_size // 2) and start > 0:
            break  # a tiny last batch gives BatchNorm and the meta step noisy statistics
        yield idx


def iterate_batches(
    split: Split, batch_size: int, generator: torch.Generator, shuffle: bool = True
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(x, y)`` mini-batches of ``batch_indices``."""
    for idx in batch_indices(len(split.y), batch_size, generator, shuffle):
        yield split.x[idx], split.y[idx]


def flipped_batches(
    split: Split, batch_size: int, generator: torch.Generator
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """``iterate_batches`` (same random stream) with each batch's flipped-label mask."""
    flipped = split.y != split.clean_y
    for idx in batch_indices(len(split.y), batch_size, generator):
        yield split.x[idx], split.y[idx], flipped[idx]


def steps_in_epoch(n: int, batch_size: int) -> int:
    full, rest = divmod(n, batch_size)
    return full + (1 if rest >= max(2, batch_size // 2) or full == 0 else 0)


def meta_batch_source(
    bundle: DataBundle, generator: torch.Generator, acc: Accelerator
) -> Callable[[int], Iterator[tuple[torch.Tensor, torch.Tensor]]]:
    """A factory of endless, reshuffled mini-batch streams over the clean meta split."""

    def stream(batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        while True:
            for x, y in iterate_batches(bundle.meta, min(batch_size, len(bundle.meta.y)), generator):
                yield _prepare(x, bundle, False, generator, acc), y.to(acc.device)

    return stream


def _prepare(
    x: torch.Tensor, bundle: DataBundle, train: bool, generator: torch.Generator, acc: Accelerator
) -> torch.Tensor:
    return acc.to_device(bundle.prepare(x, train=train, generator=generator))


@torch.no_grad()
def evaluate(model: torch.nn.Module, method: Method, split: Split, bundle: DataBundle, batch_size: int,
             acc: Accelerator) -> dict[str, Any]:
    """Metrics of ``model`` on a split, with the method's prediction-time logit adjustment."""
    model.eval()
    gen = torch.Generator().manual_seed(0)
    with acc.autocast():
        logits = [method.eval_logits(model(_prepare(x, bundle, False, gen, acc))).float().cpu()
                  for x, _ in iterate_batches(split, batch_size, gen, shuffle=False)]
    model.train()
    if not logits:
        return {}
    return classification_metrics(
        torch.cat(logits), split.y, bundle.num_classes, bundle.train_counts,
        many_threshold=bundle.many_threshold, few_threshold=bundle.few_threshold,
    )


def train(
    cfg: dict[str, Any], out_dir: str | Path | None = None, on_epoch: EpochCallback | None = None
) -> dict[str, Any]:
    """Train one resolved configuration and return (and optionally write) its result.

    Args:
        cfg: a configuration from ``resolve_config``.
        out_dir: where ``result.json`` is written atomically; nothing is written if None.
        on_epoch: called with ``(epoch, validation metrics)`` after each epoch (tuning reports).
    """
    started = time.perf_counter()
    seed, tcfg, ocfg = cfg["seed"], cfg["train"], cfg["optim"]
    if tcfg["threads"]:
        torch.set_num_threads(tcfg["threads"])
    seed_everything(seed)
    device = resolve_device(tcfg["device"])
    acc = Accelerator(tcfg, device)
    bundle = build_data(cfg["dataset"], cfg["data"], seed)
    model = build_model(cfg["model"], bundle.num_classes, bundle.input_shape, cfg["model_params"])
    model = acc.prepare_model(model, tcfg)
    batch_size, epochs = tcfg["batch_size"], tcfg["epochs"]
    steps_per_epoch = steps_in_epoch(len(bundle.train.y), batch_size)
    if train_setting(tcfg, "max_steps_per_epoch"):  # a truncated epoch: the schedule follows it
        steps_per_epoch = min(steps_per_epoch, train_setting(tcfg, "max_steps_per_epoch"))
    data_gen = torch.Generator().manual_seed(seed)
    ctx = TrainContext(
        num_classes=bundle.num_classes,
        class_counts=list(bundle.train_counts),
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        meta_batches=meta_batch_source(bundle, torch.Generator().manual_seed(seed + 1), acc),
        device=device,
    )
    method = build_method(cfg["method"], cfg["method_params"], ctx)
    optimizer = build_optimizer(model, ocfg)
    scheduler = build_scheduler(optimizer, steps_per_epoch, epochs, ocfg)
    method.setup(model, optimizer)

    noisy = bundle.noise.get("kind", "none") != "none"
    workers = None
    if acc.num_workers > 0:  # else today's in-process batches from ``data_gen``
        dataset = EpochBatches(bundle.train, bundle, batch_size, steps_per_epoch, seed)
        workers = WorkerBatches(dataset, acc.num_workers, device)
    progress = Progress(tcfg["progress"], epochs * steps_per_epoch, f"{cfg['dataset']}/{cfg['method']}/s{seed}")
    history: list[dict[str, Any]] = []
    step = 0
    try:
        for epoch in range(epochs):
            model.train()
            losses = []
            # In-process batches carry their flipped-label masks (the weight diagnostic); the
            # workers' do not, and a method then sees None.
            batches = (flipped_batches(bundle.train, batch_size, data_gen) if workers is None
                       else ((x, y, None) for x, y in workers.epoch(epoch)))
            for x, y, flipped in itertools.islice(batches, steps_per_epoch):  # fewer with max_steps_per_epoch
                method.observe_batch(flipped if noisy else None)
                x = _prepare(x, bundle, True, data_gen, acc) if workers is None else acc.to_device(x)
                y = y.to(device, non_blocking=True)
                info = StepInfo(epoch=epoch, step=step, steps_per_epoch=steps_per_epoch, epochs=epochs)
                with acc.autocast():
                    loss = method.train_step(model, optimizer, x, y, info)["loss"]
                if not math.isfinite(loss):
                    raise TrainingDivergedError(epoch, step, loss)
                losses.append(loss)
                scheduler.step()
                step += 1
                progress.step(loss)
            method.on_epoch_end(epoch)
            val = evaluate(model, method, bundle.val, bundle, tcfg["eval_batch_size"], acc)
            test = evaluate(model, method, bundle.test, bundle, tcfg["eval_batch_size"], acc)
            record = {
                "epoch": epoch + 1,
                "train_loss": float(np.mean(losses)) if losses else float("nan"),
                "lr": optimizer.param_groups[0]["lr"],
                # Test accuracy per epoch is only a record (peak vs. last shows memorization);
                # nothing is selected on it.
                **{history_key(split, m): metrics.get(m)
                   for split, metrics in (("val", val), ("test", test)) for m in PER_EPOCH_METRICS},
            }
            history.append(record)
            progress.epoch(epoch, epochs, {k: v for k, v in record.items() if k not in ("epoch", "lr")})
            if on_epoch is not None:
                on_epoch(epoch, val)
    finally:
        progress.close()

    result = {
        "status": "ok",
        "config": cfg,
        "seed": seed,
        "metrics": {"test": test, "val": val},
        "history": history,
        "collapse": history_collapse(history),  # a fall of > 20 points from the best epoch, kept
        "data": bundle.summary(),
        "provenance": provenance(),
        "timing": {"seconds_total": time.perf_counter() - started, "steps": step, "device": str(device),
                   **acc.record()},
        **method.record(),
    }
    if out_dir is not None:
        write_json_atomic(Path(out_dir) / RESULT_NAME, result)
    return result
