"""Diagnose a collapsing run: per-step and per-epoch internals of one cell of a suite.

Trains one seed of one ``DATASET_ROW/METHOD_ROW`` cell of a suite file (the cell's config, with
``--set`` overrides such as the tuned ``eps`` / ``meta_lr``) through the real trainer, and records,
every ``--every`` steps:

- the train loss of the batch and the parameter-gradient norm of the step that was taken;
- on a fixed probe of the training set (``--probe`` samples, eval mode): the CE loss and the
  accuracy against the given (noisy) label, separately for clean and for flipped samples;
- for LPG's matrix form: the last look-ahead meta loss, A's diagonal mean, the mean of the entries
  A[y, y-1] (the pair-noise source column: a flipped sample labelled y is truly y-1), and the
  amplification ||g~|| / ||g|| of the probe's logit gradients (normalize and zero_sum included),
  also split into the true-logit and other-logit parts;

and per epoch the per-class test accuracy and, for LPG, the full A. One JSON file per run.

Usage: ``python benchmarks/diag_collapse.py --cell mnist1d_pair/lpg --seed 2 --set eps=0.5
--set meta_lr=0.01 --out results/bench/collapse/diag_lpg_s2.json``
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

import lpg_meta.train.trainer as trainer
from lpg_meta.bench.cells import expand
from lpg_meta.bench.schema import load_suite
from lpg_meta.collapse import detect_collapse
from lpg_meta.yaml_loader import load_value


class Recorder:
    """Wraps the method the trainer builds, so each step can be inspected after it is taken."""

    def __init__(self, every: int, probe: int) -> None:
        self.every, self.probe_size = every, probe
        self.steps: list[dict[str, Any]] = []
        self.epochs: list[dict[str, Any]] = []
        self.bundle = self.model = self.method = None

    def build_data(self, *args: Any, **kwargs: Any):
        self.bundle = _build_data(*args, **kwargs)
        gen = torch.Generator().manual_seed(12345)
        idx = torch.randperm(len(self.bundle.train.y), generator=gen)[: self.probe_size]
        self.px = self.bundle.prepare(self.bundle.train.x[idx], train=False)
        self.py, self.pclean = self.bundle.train.y[idx], self.bundle.train.clean_y[idx]
        return self.bundle

    def build_method(self, *args: Any, **kwargs: Any):
        method = _build_method(*args, **kwargs)
        self.method = method
        original_setup, original_step = method.setup, method.train_step

        def setup(model, optimizer):
            self.model = model
            original_setup(model, optimizer)

        def train_step(model, optimizer, x, y, info, **kw):
            out = original_step(model, optimizer, x, y, info, **kw)
            if info.step % self.every == 0:
                self.steps.append(self._step_record(model, info, out["loss"]))
            return out

        method.setup, method.train_step = setup, train_step
        return method

    @torch.no_grad()
    def _step_record(self, model: torch.nn.Module, info: Any, loss: float) -> dict[str, Any]:
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        gnorm = math.sqrt(sum(float(g.pow(2).sum()) for g in grads))
        rec: dict[str, Any] = {"step": info.step, "epoch": info.epoch + info.step % info.steps_per_epoch
                               / info.steps_per_epoch, "loss": loss, "grad_norm": gnorm}
        model.eval()
        logits = model(self.px)
        model.train()
        per = F.cross_entropy(logits, self.py, reduction="none")
        hit = (logits.argmax(1) == self.py).float()
        flipped = self.py != self.pclean
        for name, mask in (("clean", ~flipped), ("flipped", flipped)):
            if mask.any():
                rec[f"probe_loss_{name}"] = float(per[mask].mean())
                rec[f"probe_fit_{name}"] = float(hit[mask].mean())  # fits the given (noisy) label
        rec["probe_true_acc"] = float((logits.argmax(1) == self.pclean).float().mean())
        form = getattr(self.method, "form", None)
        if form is not None and hasattr(form, "perturbation_matrix"):
            a = form.perturbation_matrix()
            c = a.shape[0]
            rec["A_diag_mean"] = float(torch.diagonal(a).mean())
            rec["A_prev_mean"] = float(a[torch.arange(c), (torch.arange(c) - 1) % c].mean())
            logged = self.method.meta.logged()
            rec["meta_loss"] = logged[-1] if logged else None
            g = torch.softmax(logits, 1) - F.one_hot(self.py, c).to(logits.dtype)
            gt = form.frozen()(g, self.py)
            onehot = F.one_hot(self.py, c).bool()
            rec["amp_total"] = float(gt.norm() / g.norm())
            rec["amp_true_logit"] = float(gt[onehot].norm() / g[onehot].norm())
            rec["amp_other_logits"] = float(gt[~onehot].norm() / g[~onehot].norm())
            if form.normalize:  # the divisor normalize applies to every multiplier of the batch
                mult = 1 + a[self.py]
                rec["normalize_divisor"] = float(mult.gather(1, self.py.unsqueeze(1)).mean())
        return rec

    def on_epoch(self, epoch: int, _val: dict[str, Any]) -> None:
        metrics = trainer.evaluate(self.model, self.method, self.bundle.test, self.bundle, 256,
                                   trainer.Accelerator({}, torch.device("cpu")))
        rec: dict[str, Any] = {"epoch": epoch + 1, "test_accuracy": metrics["accuracy"],
                               "test_balanced_accuracy": metrics["balanced_accuracy"],
                               "per_class_test": metrics.get("per_class")}
        form = getattr(self.method, "form", None)
        if form is not None and hasattr(form, "perturbation_matrix"):
            rec["A"] = form.perturbation_matrix().tolist()
        self.epochs.append(rec)


_build_data, _build_method = trainer.build_data, trainer.build_method


def write_compact(path: str, payload: Any) -> None:
    """Atomic JSON without indentation (a run's per-step records are ~3x smaller that way)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps(payload, separators=(",", ":"), allow_nan=False) + "\n")
    os.replace(tmp, out)


def rounded(value: Any, digits: int = 5) -> Any:
    """``value`` with every float rounded to ``digits`` significant digits (smaller files)."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}") if math.isfinite(value) else value
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v, digits) for v in value]
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="benchmarks/cpu.yaml")
    parser.add_argument("--cell", required=True, help="DATASET_ROW/METHOD_ROW")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="a tuned value: a method parameter (eps=0.5) or optim.NAME / train.NAME")
    parser.add_argument("--every", type=int, default=1, help="record every N steps")
    parser.add_argument("--probe", type=int, default=1024, help="training samples in the probe")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    (cell,) = expand(load_suite(args.suite), only=args.cell)
    params = {}
    for item in args.overrides:
        key, _, text = item.partition("=")
        params[key] = load_value(text)
    cfg = cell.config(args.seed, params)
    cfg["train"]["threads"], cfg["train"]["progress"] = 1, "none"
    rec = Recorder(args.every, args.probe)
    trainer.build_data, trainer.build_method = rec.build_data, rec.build_method
    result = trainer.train(cfg, on_epoch=rec.on_epoch)
    curve = [h["test_balanced_accuracy"] for h in result["history"]]
    write_compact(args.out, rounded({
        "cell": args.cell, "seed": args.seed, "params": params, "config": cfg,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),  # ATen kernels: AVX2 vs AVX512 differ
        "collapse": detect_collapse(curve), "history": result["history"],
        "epochs": rec.epochs, "steps": rec.steps, "seconds": result["timing"]["seconds_total"],
        "lpg": result.get("lpg", {}).get("meta_loss"),
    }))
    print(f"{args.cell} seed {args.seed}: last {curve[-1]:.3f}, collapse {detect_collapse(curve)}, "
          f"{result['timing']['seconds_total']:.0f} s -> {args.out}")


if __name__ == "__main__":
    main()
