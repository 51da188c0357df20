"""A finished run's network for certification: its initial and final weights, data and prediction rule.

Runs keep no weights unless trained with ``train.save_model`` (``model_init.pt``, ``model.pt``; the
setting is not part of a run's identity, so turning it on changes no config hash). Where they are
absent, the run is trained again from its ``result.json`` (resolved config and seed; training is
deterministic on one machine) into a scratch folder, and the rebuilt run's test accuracy is
compared with the recorded one: the certificate records whether the two agree.

Variants of the prior's centre:

- ``init``: the run's initial weights w0 (drawn from its seed before any data): n = all training
  examples;
- ``data``: a prior mean learned on a seeded half of the training set (``PRIOR_FRACTION``): w0 trained
  with plain cross-entropy on that half by the run's optimiser settings (SGD, its learning rate,
  momentum, weight decay, schedule, batch size and epochs); the certificate is then computed on
  the other half only (n halves). The posterior still starts at the run's final weights, which saw
  all of the data: a posterior may depend on anything, the prior only on what the bound excludes.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lpg_meta.data import DataBundle, build_data
from lpg_meta.errors import UserError
from lpg_meta.models import build_model
from lpg_meta.results import RESULT_NAME
from lpg_meta.train.saved import eval_method

PRIOR_FRACTION = 0.5  # the data variant's share of the training set for the prior mean
SPLIT_STREAM = 0xC0DE  # offset of the seed of the data variant's split

State = dict[str, torch.Tensor]


@dataclass
class RunNetwork:
    """What certifying one run needs."""

    result: dict[str, Any]
    model: torch.nn.Module
    initial: State
    final: State
    bundle: DataBundle
    predict: Any  # logits -> logits predicted with
    weights: str  # "saved" or "rebuilt"
    rebuilt_accuracy_diff: float | None  # rebuilt minus recorded test accuracy (None: saved weights)


def read_result(run_dir: Path) -> dict[str, Any]:
    """The run's ``result.json``; a clear error where it is missing or not a finished run."""
    path = run_dir / RESULT_NAME
    try:
        result = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise UserError(f"{path} is not a readable result ({type(err).__name__}).") from None
    if result.get("status") != "ok" or "config" not in result:
        raise UserError(f"{path} is not a finished run (status {result.get('status')!r}).")
    return result


def _load(path: Path) -> State:
    return torch.load(path, map_location="cpu", weights_only=True)


def _rebuild(cfg: dict[str, Any]) -> tuple[State, State, dict[str, Any]]:
    """Train ``cfg`` again into a scratch folder; its initial and final state dicts and its result."""
    from lpg_meta.train.trainer import FINAL_MODEL, INITIAL_MODEL, train

    rerun = {**cfg, "train": {**cfg["train"], "save_model": True, "pac_bayes": False, "progress": "none",
                              "device": "cpu", "checkpoint_every": 0, "checkpoint_minutes": 0}}
    with tempfile.TemporaryDirectory(prefix="lpg-certify-") as scratch:
        result = train(rerun, out_dir=None, run_dir=scratch)
        return _load(Path(scratch) / INITIAL_MODEL), _load(Path(scratch) / FINAL_MODEL), result


def run_network(run_dir: Path) -> RunNetwork:
    """The run in ``run_dir`` with its weights (saved, else rebuilt by training it again)."""
    from lpg_meta.train.trainer import FINAL_MODEL, INITIAL_MODEL

    result = read_result(run_dir)
    cfg = result["config"]
    files = result.get("saved_model") or {}
    saved = [run_dir / files.get(k, name) for k, name in (("initial", INITIAL_MODEL), ("final", FINAL_MODEL))]
    diff = None
    if files and all(p.exists() for p in saved):
        initial, final = (_load(p) for p in saved)
        weights = "saved"
    else:
        initial, final, rebuilt = _rebuild(cfg)
        weights = "rebuilt"
        diff = rebuilt["metrics"]["test"]["accuracy"] - result["metrics"]["test"]["accuracy"]
    bundle = build_data(cfg["dataset"], cfg["data"], cfg["seed"])
    model = build_model(cfg["model"], bundle.num_classes, bundle.input_shape, cfg["model_params"])
    model.load_state_dict(final)
    method = eval_method(cfg, bundle, "cpu")
    return RunNetwork(result, model.eval(), initial, final, bundle, method.eval_logits, weights, diff)


def split_for_prior(n: int, seed: int, fraction: float = PRIOR_FRACTION) -> tuple[torch.Tensor, torch.Tensor]:
    """(prior part, bound part): a seeded permutation of range(n), the first ``fraction`` for the prior."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(SPLIT_STREAM + seed))
    cut = int(round(fraction * n))
    return order[:cut].sort().values, order[cut:].sort().values


def learn_prior_mean(net: RunNetwork, idx: torch.Tensor) -> State:
    """w0 trained with cross-entropy on the training examples ``idx`` by the run's optimiser settings."""
    from lpg_meta.train.schedule import build_optimizer, build_scheduler
    from lpg_meta.train.trainer import steps_in_epoch

    cfg = net.result["config"]
    model = build_model(cfg["model"], net.bundle.num_classes, net.bundle.input_shape, cfg["model_params"])
    model.load_state_dict(net.initial)
    model.train()
    batch, epochs = cfg["train"]["batch_size"], cfg["train"]["epochs"]
    per_epoch = steps_in_epoch(len(idx), batch)
    optimizer = build_optimizer(model, cfg["optim"])
    scheduler = build_scheduler(optimizer, per_epoch, epochs, cfg["optim"])
    gen = torch.Generator().manual_seed(SPLIT_STREAM + 1 + cfg["seed"])
    x, y = net.bundle.prepare(net.bundle.train.x[idx]), net.bundle.train.y[idx]
    for _ in range(epochs):
        order = torch.randperm(len(idx), generator=gen)
        for step in range(per_epoch):
            part = order[step * batch:(step + 1) * batch]
            loss = torch.nn.functional.cross_entropy(model(x[part]), y[part])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}
