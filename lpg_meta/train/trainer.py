"""The training loop: config -> data -> model and method -> epochs -> result.json."""

from __future__ import annotations

import itertools
import math
import random
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
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
from lpg_meta.stage import stage
from lpg_meta.train.batches import BatchOrder, iterate_batches, meta_batch_source, prepare
from lpg_meta.train.checkpoint import Checkpointer, rng_states, save_torch_atomic, set_rng_states
from lpg_meta.train.device import Accelerator, EpochBatches, WorkerBatches, resolve_device
from lpg_meta.train.loggers import open_live_log, without_live_settings
from lpg_meta.train.metrics import classification_metrics
from lpg_meta.train.pac_bayes import pac_bayes_bound
from lpg_meta.train.progress import Progress
from lpg_meta.train.schedule import build_optimizer, build_scheduler

EpochCallback = Callable[[int, dict[str, Any]], None]
INITIAL_MODEL, FINAL_MODEL = "model_init.pt", "model.pt"  # train.save_model's files in the run folder


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch; CPU kernels are then deterministic."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def steps_in_epoch(n: int, batch_size: int) -> int:
    full, rest = divmod(n, batch_size)
    return full + (1 if rest >= max(2, batch_size // 2) or full == 0 else 0)


@torch.no_grad()
def evaluate(model: torch.nn.Module, method: Method, split: Split, bundle: DataBundle, batch_size: int,
             acc: Accelerator) -> dict[str, Any]:
    """Metrics of ``model`` on a split, with the method's prediction-time logit adjustment."""
    model.eval()
    gen = torch.Generator().manual_seed(0)
    with acc.autocast():
        logits = [method.eval_logits(model(prepare(x, bundle, False, gen, acc))).float().cpu()
                  for x, _ in iterate_batches(split, batch_size, gen, shuffle=False)]
    model.train()
    if not logits:
        return {}
    return classification_metrics(
        torch.cat(logits), split.y, bundle.num_classes, bundle.train_counts,
        many_threshold=bundle.many_threshold, few_threshold=bundle.few_threshold,
    )


@dataclass
class _Run:
    """One run's parts and the loop's state: what a checkpoint holds and a resumed run restores."""

    cfg: dict[str, Any]
    acc: Accelerator
    bundle: DataBundle
    model: torch.nn.Module
    method: Method
    optimizer: torch.optim.Optimizer
    scheduler: Any
    order: BatchOrder
    steps_per_epoch: int
    started: float
    # The loop's counters: epochs done, steps done in the current epoch, steps done in all.
    epoch: int = 0
    in_epoch: int = 0
    step: int = 0
    seconds_before: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    val: dict[str, Any] = field(default_factory=dict)
    test: dict[str, Any] = field(default_factory=dict)

    @property
    def epochs(self) -> int:
        return int(self.cfg["train"]["epochs"])

    def seconds(self) -> float:
        """Training seconds so far, those of the runs it resumes included."""
        return self.seconds_before + time.perf_counter() - self.started

    def snapshot(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "method": self.method.state_dict(),
                "order": self.order.state_dict(), "rng": rng_states(), "epoch": self.epoch,
                "in_epoch": self.in_epoch, "step": self.step, "history": self.history, "losses": self.losses,
                "val": self.val, "test": self.test, "seconds": self.seconds()}

    def restore(self, saved: dict[str, Any]) -> None:
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        self.method.load_state_dict(saved["method"])
        self.order.load_state_dict(saved["order"])
        set_rng_states(saved["rng"])
        self.epoch, self.in_epoch, self.step = saved["epoch"], saved["in_epoch"], saved["step"]
        self.seconds_before, self.history, self.losses = saved["seconds"], saved["history"], saved["losses"]
        self.val, self.test = saved["val"], saved["test"]


def _build_run(cfg: dict[str, Any], acc: Accelerator, device: torch.device, started: float,
               train_subset: torch.Tensor | None = None) -> _Run:
    """The data, the model, the method, the optimiser and its schedule, in the order that seeds them."""
    seed, tcfg, ocfg = cfg["seed"], cfg["train"], cfg["optim"]
    with stage(f"building {cfg['dataset']} (seed {seed})") if train_setting(tcfg, "progress") != "none" \
            else nullcontext():
        bundle = build_data(cfg["dataset"], cfg["data"], seed)
    if train_subset is not None:
        bundle = bundle.with_train_subset(train_subset)
    model = build_model(cfg["model"], bundle.num_classes, bundle.input_shape, cfg["model_params"])
    model = acc.prepare_model(model, tcfg)
    batch_size, epochs = tcfg["batch_size"], tcfg["epochs"]
    steps_per_epoch = steps_in_epoch(len(bundle.train.y), batch_size)
    if train_setting(tcfg, "max_steps_per_epoch"):  # a truncated epoch: the schedule follows it
        steps_per_epoch = min(steps_per_epoch, train_setting(tcfg, "max_steps_per_epoch"))
    order = BatchOrder(len(bundle.train.y), batch_size, torch.Generator().manual_seed(seed))
    ctx = TrainContext(
        num_classes=bundle.num_classes,
        class_counts=list(bundle.train_counts),
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        meta_batches=meta_batch_source(bundle, torch.Generator().manual_seed(seed + 1), acc),
        class_noise_rates=bundle.noise.get("per_class_rate"),
        device=device,
    )
    method = build_method(cfg["method"], cfg["method_params"], ctx)
    optimizer = build_optimizer(model, ocfg)
    scheduler = build_scheduler(optimizer, steps_per_epoch, epochs, ocfg)
    method.setup(model, optimizer)
    return _Run(cfg, acc, bundle, model, method, optimizer, scheduler, order, steps_per_epoch, started)


def _resume_or_start(run: _Run, ckpt: Checkpointer | None, run_dir: str | Path | None) -> None:
    """Restore a matching checkpoint's state, or save the initial weights where train.save_model asks."""
    saved = ckpt.load() if ckpt is not None else None
    if saved is not None:
        assert ckpt is not None
        run.restore(saved)
        print(f"lpg-meta: resuming from {ckpt.path}: {run.epoch} of {run.epochs} epochs done, then "
              f"{run.in_epoch} steps ({run.step} in all)", file=sys.stderr, flush=True)
    elif train_setting(run.cfg["train"], "save_model") and run_dir is not None:
        save_torch_atomic(Path(run_dir) / INITIAL_MODEL, run.model.state_dict())


def _batches(run: _Run, workers: WorkerBatches | None,
             flipped: torch.Tensor | None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The rest of the current epoch's training batches, ``(x on the device, y)``, each told to the method
    (Method.observe_batch: which of its labels were flipped, where known)."""
    if workers is None:
        if run.in_epoch == 0:
            run.order.start_pass()
        return _ordered_batches(run, flipped)
    # A DataLoader's epoch is a function of (seed, epoch): a resumed one skips what was done.
    return _worker_batches(run, itertools.islice(workers.epoch(run.epoch), run.in_epoch, None))


def _ordered_batches(run: _Run, flipped: torch.Tensor | None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """In-process batches in the order's sequence, prepared with its generator."""
    bundle = run.bundle
    while (idx := run.order.take()) is not None:
        x, y = prepare(bundle.train.x[idx], bundle, True, run.order.generator, run.acc), bundle.train.y[idx]
        run.method.observe_batch(None if flipped is None else flipped[idx])
        yield x, y


def _worker_batches(run: _Run, loaded: Iterator[Any]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The DataLoader workers' batches."""
    for batch in loaded:
        x, y = run.acc.to_device(batch[0]), batch[1]
        run.method.observe_batch(None)  # the workers' batches carry no indices
        yield x, y


def _train_epoch(run: _Run, workers: WorkerBatches | None, flipped: torch.Tensor | None,
                 ckpt: Checkpointer | None, progress: Progress) -> None:
    """The steps left in the current epoch (a checkpoint where one is due)."""
    batches = _batches(run, workers, flipped)
    while run.in_epoch < run.steps_per_epoch:
        batch = next(batches, None)
        if batch is None:
            break
        x, y = batch[0], batch[1].to(run.acc.device, non_blocking=True)
        info = StepInfo(epoch=run.epoch, step=run.step, steps_per_epoch=run.steps_per_epoch, epochs=run.epochs)
        with run.acc.autocast():
            loss = run.method.train_step(run.model, run.optimizer, x, y, info)["loss"]
        if not math.isfinite(loss):
            raise TrainingDivergedError(run.epoch, run.step, loss)
        run.losses.append(loss)
        run.scheduler.step()
        run.step += 1
        run.in_epoch += 1
        progress.step(loss)
        if ckpt is not None and ckpt.due(None):
            ckpt.save(run.snapshot())


def _end_epoch(run: _Run) -> dict[str, Any]:
    """Evaluate both splits after an epoch; its history record."""
    run.method.on_epoch_end(run.epoch)
    tcfg = run.cfg["train"]
    run.val = evaluate(run.model, run.method, run.bundle.val, run.bundle, tcfg["eval_batch_size"], run.acc)
    run.test = evaluate(run.model, run.method, run.bundle.test, run.bundle, tcfg["eval_batch_size"], run.acc)
    return {
        "epoch": run.epoch + 1,
        "train_loss": float(np.mean(run.losses)) if run.losses else float("nan"),
        "lr": run.optimizer.param_groups[0]["lr"],
        # Test accuracy per epoch is only a record (peak vs. last shows memorization);
        # nothing is selected on it.
        **{history_key(split, m): metrics.get(m)
           for split, metrics in (("val", run.val), ("test", run.test)) for m in PER_EPOCH_METRICS},
    }


def _train_epochs(run: _Run, ckpt: Checkpointer | None, on_epoch: EpochCallback | None) -> None:
    """The epochs left: each one's steps, its evaluation and record, its checkpoint where due."""
    cfg, bundle, acc = run.cfg, run.bundle, run.acc
    # Which training labels were flipped: a weight diagnostic may read it (Method.observe_batch).
    flipped = bundle.train.y != bundle.train.clean_y if bundle.noise.get("kind", "none") != "none" else None
    workers = None
    if acc.num_workers > 0:  # else today's in-process batches from the order's generator
        dataset = EpochBatches(bundle.train, bundle, cfg["train"]["batch_size"], run.steps_per_epoch, cfg["seed"])
        workers = WorkerBatches(dataset, acc.num_workers, acc.device)
    live = open_live_log(cfg)  # train.log's loggers: they read each epoch's record, nothing more
    progress = Progress(train_setting(cfg["train"], "progress"), run.epochs * run.steps_per_epoch,
                        f"{cfg['dataset']}/{cfg['method']}/s{cfg['seed']}")
    try:
        while run.epoch < run.epochs:
            run.model.train()
            _train_epoch(run, workers, flipped, ckpt, progress)
            record = _end_epoch(run)
            run.history.append(record)
            live.epoch(record, run.method.record)
            run.epoch, run.in_epoch, run.losses = run.epoch + 1, 0, []
            if ckpt is not None and ckpt.due(run.epoch):
                ckpt.save(run.snapshot())
            progress.epoch(run.epoch - 1, run.epochs, {k: v for k, v in record.items() if k not in ("epoch", "lr")})
            if on_epoch is not None:
                on_epoch(run.epoch - 1, run.val)
    except TrainingDivergedError:
        if ckpt is not None:
            ckpt.finish()  # deterministic: a resume would diverge again
        raise
    finally:
        progress.close()
        live.close()


def _result(run: _Run, w0: list[torch.Tensor] | None, ckpt: Checkpointer | None,
            run_dir: str | Path | None) -> dict[str, Any]:
    """The run's result: metrics, history, the PAC-Bayes bound where asked, the saved model, timing."""
    cfg, bundle, acc, model, method = run.cfg, run.bundle, run.acc, run.model, run.method
    pac_bayes = {}
    if w0 is not None:
        pac_bayes = {"pac_bayes": {**pac_bayes_bound(
            model, w0, bundle.train.x, bundle.train.y, seed=cfg["seed"], predict=method.eval_logits,
            prepare=lambda x: acc.to_device(bundle.prepare(x))), "test_error": run.test.get("error")}}
    saved_model = {}
    if train_setting(cfg["train"], "save_model") and run_dir is not None:
        save_torch_atomic(Path(run_dir) / FINAL_MODEL, model.state_dict())
        saved_model = {"saved_model": {"initial": INITIAL_MODEL, "final": FINAL_MODEL}}
    return {
        "status": "ok",
        "config": without_live_settings(cfg),  # the same with logging on or off
        "seed": cfg["seed"],
        "metrics": {"test": run.test, "val": run.val},
        "history": run.history,
        "collapse": history_collapse(run.history),  # a fall of > 20 points from the best epoch, kept
        "data": bundle.summary(),
        "provenance": provenance(),
        "timing": {"seconds_total": run.seconds(), "steps": run.step,
                   "device": str(acc.device), **acc.record(), **(ckpt.record() if ckpt is not None else {})},
        **saved_model,
        **pac_bayes,
        **method.record(),
    }


def train(
    cfg: dict[str, Any], out_dir: str | Path | None = None, on_epoch: EpochCallback | None = None,
    run_dir: str | Path | None = None, foreign_checkpoint: str = "error",
    train_subset: torch.Tensor | None = None,
) -> dict[str, Any]:
    """Train one resolved configuration and return (and optionally write) its result.

    Args:
        cfg: a configuration from ``resolve_config``.
        out_dir: where ``result.json`` is written atomically; nothing is written if None.
        on_epoch: called with ``(epoch, validation metrics)`` after each epoch (tuning reports).
        run_dir: the folder of checkpoints and saved models (default ``out_dir``); None: neither.
            A matching checkpoint there is resumed from (``Checkpointer``).
        foreign_checkpoint: ``"error"`` or ``"restart"`` for a checkpoint of another config.
        train_subset: train on these training examples only (a certificate's data-dependent prior);
            not part of the config, so such a run must not share ``run_dir`` with the full one.
    """
    started = time.perf_counter()
    tcfg = cfg["train"]
    if tcfg["threads"]:
        torch.set_num_threads(tcfg["threads"])
    seed_everything(cfg["seed"])
    device = resolve_device(tcfg["device"])
    run = _build_run(cfg, Accelerator(tcfg, device), device, started, train_subset)
    # The PAC-Bayes prior's centre: the weights before the first step (a resumed run rebuilds
    # the same ones from the seed, then loads its checkpoint's).
    w0 = [p.detach().clone() for p in run.model.parameters()] if train_setting(tcfg, "pac_bayes") else None
    run_dir = run_dir if run_dir is not None else out_dir
    ckpt = Checkpointer(run_dir, cfg, foreign_checkpoint) if run_dir is not None else None
    _resume_or_start(run, ckpt, run_dir)
    _train_epochs(run, ckpt, on_epoch)
    result = _result(run, w0, ckpt, run_dir)
    if out_dir is not None:
        write_json_atomic(Path(out_dir) / RESULT_NAME, result)
        if ckpt is not None:
            ckpt.finish()  # else the caller writes the result, then calls finish_checkpoints
    return result
