"""The training loop: config -> data -> model and method -> epochs -> result.json."""

from __future__ import annotations

import itertools
import math
import random
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
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


def train(
    cfg: dict[str, Any], out_dir: str | Path | None = None, on_epoch: EpochCallback | None = None,
    run_dir: str | Path | None = None, foreign_checkpoint: str = "error",
) -> dict[str, Any]:
    """Train one resolved configuration and return (and optionally write) its result.

    Args:
        cfg: a configuration from ``resolve_config``.
        out_dir: where ``result.json`` is written atomically; nothing is written if None.
        on_epoch: called with ``(epoch, validation metrics)`` after each epoch (tuning reports).
        run_dir: the folder of checkpoints and saved models (default ``out_dir``); None: neither.
            A matching checkpoint there is resumed from (``Checkpointer``).
        foreign_checkpoint: ``"error"`` or ``"restart"`` for a checkpoint of another config.
    """
    started = time.perf_counter()
    seed, tcfg, ocfg = cfg["seed"], cfg["train"], cfg["optim"]
    if tcfg["threads"]:
        torch.set_num_threads(tcfg["threads"])
    seed_everything(seed)
    device = resolve_device(tcfg["device"])
    acc = Accelerator(tcfg, device)
    shown = train_setting(tcfg, "progress")
    with stage(f"building {cfg['dataset']} (seed {seed})") if shown != "none" else nullcontext():
        bundle = build_data(cfg["dataset"], cfg["data"], seed)
    model = build_model(cfg["model"], bundle.num_classes, bundle.input_shape, cfg["model_params"])
    model = acc.prepare_model(model, tcfg)
    batch_size, epochs = tcfg["batch_size"], tcfg["epochs"]
    steps_per_epoch = steps_in_epoch(len(bundle.train.y), batch_size)
    if train_setting(tcfg, "max_steps_per_epoch"):  # a truncated epoch: the schedule follows it
        steps_per_epoch = min(steps_per_epoch, train_setting(tcfg, "max_steps_per_epoch"))
    order = BatchOrder(len(bundle.train.y), batch_size, torch.Generator().manual_seed(seed))
    data_gen = order.generator
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
    # The PAC-Bayes prior's centre: the weights before the first step (a resumed run rebuilds
    # the same ones from the seed, then loads its checkpoint's).
    w0 = [p.detach().clone() for p in model.parameters()] if train_setting(tcfg, "pac_bayes") else None

    run_dir = run_dir if run_dir is not None else out_dir
    ckpt = Checkpointer(run_dir, cfg, foreign_checkpoint) if run_dir is not None else None
    saved = ckpt.load() if ckpt is not None else None
    # The loop's counters: epochs done, steps done in the current epoch, steps done in all.
    epoch, in_epoch, step, seconds_before = 0, 0, 0, 0.0
    history: list[dict[str, Any]] = []
    losses: list[float] = []
    val: dict[str, Any] = {}
    test: dict[str, Any] = {}
    if saved is not None:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        method.load_state_dict(saved["method"])
        order.load_state_dict(saved["order"])
        set_rng_states(saved["rng"])
        epoch, in_epoch, step, seconds_before = saved["epoch"], saved["in_epoch"], saved["step"], saved["seconds"]
        history, losses, val, test = saved["history"], saved["losses"], saved["val"], saved["test"]
        print(f"lpg-meta: resuming from {ckpt.path}: {epoch} of {epochs} epochs done, then {in_epoch} steps "
              f"({step} in all)", file=sys.stderr, flush=True)
    elif train_setting(tcfg, "save_model") and run_dir is not None:
        save_torch_atomic(Path(run_dir) / INITIAL_MODEL, model.state_dict())

    def snapshot() -> dict[str, Any]:
        return {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "method": method.state_dict(), "order": order.state_dict(),
                "rng": rng_states(), "epoch": epoch, "in_epoch": in_epoch, "step": step, "history": history,
                "losses": losses, "val": val, "test": test,
                "seconds": seconds_before + time.perf_counter() - started}

    # Which training labels were flipped: a weight diagnostic may read it (Method.observe_batch).
    flipped = bundle.train.y != bundle.train.clean_y if bundle.noise.get("kind", "none") != "none" else None
    workers = None
    if acc.num_workers > 0:  # else today's in-process batches from ``data_gen``
        dataset = EpochBatches(bundle.train, bundle, batch_size, steps_per_epoch, seed)
        workers = WorkerBatches(dataset, acc.num_workers, device)
    live = open_live_log(cfg)  # train.log's loggers: they read each epoch's record, nothing more
    progress = Progress(shown, epochs * steps_per_epoch, f"{cfg['dataset']}/{cfg['method']}/s{seed}")
    try:
        while epoch < epochs:
            model.train()
            if in_epoch == 0 and workers is None:
                order.start_pass()
            # A DataLoader's epoch is a function of (seed, epoch): a resumed one skips what was done.
            loaded = None if workers is None else itertools.islice(workers.epoch(epoch), in_epoch, None)
            while in_epoch < steps_per_epoch:
                if loaded is None:
                    idx = order.take()
                    if idx is None:
                        break
                    x, y = prepare(bundle.train.x[idx], bundle, True, data_gen, acc), bundle.train.y[idx]
                    method.observe_batch(None if flipped is None else flipped[idx])
                else:
                    batch = next(loaded, None)
                    if batch is None:
                        break
                    x, y = acc.to_device(batch[0]), batch[1]
                    method.observe_batch(None)  # the workers' batches carry no indices
                y = y.to(device, non_blocking=True)
                info = StepInfo(epoch=epoch, step=step, steps_per_epoch=steps_per_epoch, epochs=epochs)
                with acc.autocast():
                    loss = method.train_step(model, optimizer, x, y, info)["loss"]
                if not math.isfinite(loss):
                    raise TrainingDivergedError(epoch, step, loss)
                losses.append(loss)
                scheduler.step()
                step += 1
                in_epoch += 1
                progress.step(loss)
                if ckpt is not None and ckpt.due(None):
                    ckpt.save(snapshot())
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
            live.epoch(record, method.record)
            epoch, in_epoch, losses = epoch + 1, 0, []
            if ckpt is not None and ckpt.due(epoch):
                ckpt.save(snapshot())
            progress.epoch(epoch - 1, epochs, {k: v for k, v in record.items() if k not in ("epoch", "lr")})
            if on_epoch is not None:
                on_epoch(epoch - 1, val)
    except TrainingDivergedError:
        if ckpt is not None:
            ckpt.finish()  # deterministic: a resume would diverge again
        raise
    finally:
        progress.close()
        live.close()

    pac_bayes = {}
    if w0 is not None:
        pac_bayes = {"pac_bayes": {**pac_bayes_bound(
            model, w0, bundle.train.x, bundle.train.y, seed=seed, predict=method.eval_logits,
            prepare=lambda x: acc.to_device(bundle.prepare(x))), "test_error": test.get("error")}}
    saved_model = {}
    if train_setting(tcfg, "save_model") and run_dir is not None:
        save_torch_atomic(Path(run_dir) / FINAL_MODEL, model.state_dict())
        saved_model = {"saved_model": {"initial": INITIAL_MODEL, "final": FINAL_MODEL}}
    result = {
        "status": "ok",
        "config": without_live_settings(cfg),  # the same with logging on or off
        "seed": seed,
        "metrics": {"test": test, "val": val},
        "history": history,
        "collapse": history_collapse(history),  # a fall of > 20 points from the best epoch, kept
        "data": bundle.summary(),
        "provenance": provenance(),
        "timing": {"seconds_total": seconds_before + time.perf_counter() - started, "steps": step,
                   "device": str(device), **acc.record(), **(ckpt.record() if ckpt is not None else {})},
        **saved_model,
        **pac_bayes,
        **method.record(),
    }
    if out_dir is not None:
        write_json_atomic(Path(out_dir) / RESULT_NAME, result)
        if ckpt is not None:
            ckpt.finish()  # else the caller writes the result, then calls finish_checkpoints
    return result
