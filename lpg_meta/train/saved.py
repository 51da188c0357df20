"""Saved models (``train.save_model``): rebuild a run's model from its ``result.json`` and evaluate it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from lpg_meta.data import DataBundle, build_data
from lpg_meta.errors import UserError
from lpg_meta.methods import Method, TrainContext, build_method
from lpg_meta.models import build_model
from lpg_meta.results import RESULT_NAME
from lpg_meta.train.device import Accelerator


def _saved(run_dir: Path) -> tuple[dict[str, Any], dict[str, str]]:
    path = run_dir / RESULT_NAME
    try:
        result = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise UserError(f"{path} is not a readable result ({type(err).__name__}).") from None
    if "saved_model" not in result:
        raise UserError(f"{path} is a run without saved weights; train it with --set train.save_model=true.")
    return result, result["saved_model"]


def load_model(
    run_dir: str | Path, which: str = "final", device: str = "cpu"
) -> tuple[torch.nn.Module, DataBundle, dict[str, Any]]:
    """The model of the run in ``run_dir`` with its saved weights, its data and its ``result.json``.

    Args:
        run_dir: the run folder (``result.json`` and the weights).
        which: ``"final"`` (after training) or ``"initial"`` (before the first step).
        device: where the model goes.
    """
    run_dir = Path(run_dir)
    result, files = _saved(run_dir)
    if which not in files:
        raise UserError(f"which must be one of {', '.join(files)}, got {which!r}.")
    cfg = result["config"]
    bundle = build_data(cfg["dataset"], cfg["data"], cfg["seed"])
    model = build_model(cfg["model"], bundle.num_classes, bundle.input_shape, cfg["model_params"])
    model.load_state_dict(torch.load(run_dir / files[which], map_location="cpu", weights_only=True))
    return model.to(device).eval(), bundle, result


def eval_method(cfg: dict[str, Any], bundle: DataBundle, device: str = "cpu") -> Method:
    """The run's method, built for its prediction rule (``eval_logits``) only."""
    ctx = TrainContext(num_classes=bundle.num_classes, class_counts=list(bundle.train_counts),
                       epochs=cfg["train"]["epochs"], steps_per_epoch=1, device=torch.device(device))
    return build_method(cfg["method"], cfg["method_params"], ctx)


def evaluate_saved(run_dir: str | Path, split: str = "test", device: str = "cpu") -> dict[str, Any]:
    """The metrics of the run's final saved model on ``split`` (as the trainer computes them)."""
    from lpg_meta.train.trainer import evaluate  # the trainer's own evaluation, not a copy

    model, bundle, result = load_model(run_dir, "final", device)
    cfg = result["config"]
    method = eval_method(cfg, bundle, device)
    acc = Accelerator({**cfg["train"], "device": device}, torch.device(device))
    acc.prepare_model(model, cfg["train"])
    return evaluate(model, method, getattr(bundle, split), bundle, cfg["train"]["eval_batch_size"], acc)
