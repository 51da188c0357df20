"""A finished run's network for certification: its initial and final weights, data and prediction rule.

Runs keep no weights unless trained with ``train.save_model`` (``model_init.pt``, ``model.pt``; the
setting is not part of a run's identity, so turning it on changes no config hash). Where they are
absent, the run is trained again from its ``result.json`` (resolved config and seed; training is
deterministic on one machine) into a scratch folder, and the rebuilt run's test accuracy is
compared with the recorded one: the certificate records whether the two agree.

Variants of the prior's centre:

- ``init``: the run's initial weights w0 (drawn from its seed before any data): n = all training
  examples; the posterior starts at the run's final weights;
- ``data``: the prior mean is the run itself trained again on a seeded half of the training set
  (``PRIOR_FRACTION``): the same config, method, seed and w0, so LPG's prior is learned by LPG and
  CE's by CE. The certificate is computed on the other half only (n halves), and the posterior
  starts at that prior mean, as in Pérez-Ortiz et al. (2021, JMLR 22): started at the final weights,
  which moved away from it on the whole training set, the KL alone took certificates to 0.6-1.0.
  The prediction rule (a method's post-hoc adjustment) is also the one the half-set run built
  (its class counts), so nothing the bound is computed on enters the prior's hypotheses.

A tuned cell's values were chosen among its tuning trials on data that includes the bound's
examples. Where those trials were drawn blind to the data (the sampler's random start), the set of
candidate values is fixed before any data is seen, and the union bound also runs over it
(``tuning_candidates``: ln 2 nats for a cell of 2 trials); the choice between them then costs the
certificate nothing else. Where later trials were guided by earlier scores the candidates depend
on the data and the certificate records that it does not cover the tuning.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lpg_meta.data import DataBundle, build_data
from lpg_meta.errors import UserError
from lpg_meta.models import build_model
from lpg_meta.results import RANDOM_START_TRIALS, RESULT_NAME, TRIAL_LOGS, TUNING_DIR
from lpg_meta.train.saved import eval_method

PRIOR_FRACTION = 0.5  # the data variant's share of the training set for the prior mean
SPLIT_STREAM = 0xC0DE  # offset of the seed of the data variant's split

State = dict[str, torch.Tensor]
Predict = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class RunNetwork:
    """What certifying one run needs."""

    result: dict[str, Any]
    model: torch.nn.Module
    initial: State | None  # None where the weights were not asked for
    final: State | None
    bundle: DataBundle
    predict: Predict  # logits -> logits predicted with
    weights: str  # "saved", "rebuilt" or "not used"
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


def tuning_candidates(run_dir: Path, result: dict[str, Any]) -> tuple[int, bool]:
    """(how many values the run's cell chose its hyperparameters from, whether they were drawn blind).

    An untuned cell ran the values its suite file fixed: 1, blind. A tuned cell: every trial
    started (one log each, in ``ROW/METHOD/tuning``; a retried trial counts twice, which only
    loosens the bound), blind when there are no more than the sampler's random start.
    """
    suite = result.get("suite") or {}
    if not suite.get("study_name"):
        return 1, True
    logs = list((run_dir.parent / TUNING_DIR).glob(TRIAL_LOGS))
    if not logs:
        raise UserError(f"{run_dir} was tuned (study {suite['study_name']}) but no trial log is in "
                        f"{run_dir.parent / TUNING_DIR}; the certificate's union bound needs the cell's trials: "
                        f"certify the suite's own results folder.")
    return len(logs), len(logs) <= RANDOM_START_TRIALS


def _load(path: Path) -> State:
    return torch.load(path, map_location="cpu", weights_only=True)


def _rebuild(cfg: dict[str, Any], train_subset: torch.Tensor | None = None) -> tuple[State, State, dict[str, Any]]:
    """Train ``cfg`` again (on the training examples ``train_subset`` only, if given) into a scratch
    folder; its initial and final state dicts and its result."""
    from lpg_meta.train.trainer import FINAL_MODEL, INITIAL_MODEL, train

    rerun = {**cfg, "train": {**cfg["train"], "save_model": True, "pac_bayes": False, "progress": "none",
                              "device": "cpu", "checkpoint_every": 0, "checkpoint_minutes": 0}}
    with tempfile.TemporaryDirectory(prefix="lpg-certify-") as scratch:
        result = train(rerun, out_dir=None, run_dir=scratch, train_subset=train_subset)
        return _load(Path(scratch) / INITIAL_MODEL), _load(Path(scratch) / FINAL_MODEL), result


def run_network(run_dir: Path, weights: bool = True) -> RunNetwork:
    """The run in ``run_dir``: its data, architecture and prediction rule, and where ``weights`` asks,
    its initial and final weights (saved, else rebuilt by training it again)."""
    from lpg_meta.train.trainer import FINAL_MODEL, INITIAL_MODEL

    result = read_result(run_dir)
    cfg = result["config"]
    files = result.get("saved_model") or {}
    saved = [run_dir / files.get(k, name) for k, name in (("initial", INITIAL_MODEL), ("final", FINAL_MODEL))]
    initial = final = diff = None
    how = "not used"
    if weights and files and all(p.exists() for p in saved):
        initial, final = (_load(p) for p in saved)
        how = "saved"
    elif weights:
        initial, final, rebuilt = _rebuild(cfg)
        how = "rebuilt"
        diff = rebuilt["metrics"]["test"]["accuracy"] - result["metrics"]["test"]["accuracy"]
    bundle = build_data(cfg["dataset"], cfg["data"], cfg["seed"])
    model = build_model(cfg["model"], bundle.num_classes, bundle.input_shape, cfg["model_params"])
    if final is not None:
        model.load_state_dict(final)
    method = eval_method(cfg, bundle, "cpu")
    return RunNetwork(result, model.eval(), initial, final, bundle, method.eval_logits, how, diff)


def split_for_prior(n: int, seed: int, fraction: float = PRIOR_FRACTION) -> tuple[torch.Tensor, torch.Tensor]:
    """(prior part, bound part): a seeded permutation of range(n), the first ``fraction`` for the prior."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(SPLIT_STREAM + seed))
    cut = int(round(fraction * n))
    return order[:cut].sort().values, order[cut:].sort().values


def prior_from_part(net: RunNetwork, idx: torch.Tensor) -> tuple[State, Predict]:
    """The data variant's prior mean: the run's own training (config, method, seed) on the training
    examples ``idx`` only; with the prediction rule built from those examples."""
    cfg = net.result["config"]
    _, final, _ = _rebuild(cfg, idx)
    return final, eval_method(cfg, net.bundle.with_train_subset(idx), "cpu").eval_logits
