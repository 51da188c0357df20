"""The per-sample weight diagnostic: flipped-sample share and clean-vs-flipped AUC."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from lpg_meta.data.base import Split
from lpg_meta.methods import TrainContext, build_method
from lpg_meta.methods._weight_log import WeightLog, clean_vs_flipped_auc, flipped_share

# Five samples, two flipped. Clean weights {0.9, 0.8, 0.5}, flipped {0.1, 0.5}:
# share = 0.6 / 2.8; of the 6 clean-flipped pairs the clean one weighs more in 5, ties in 1.
WEIGHTS = np.array([0.9, 0.1, 0.8, 0.5, 0.5])
FLIPPED = np.array([False, True, False, True, False])
SHARE, AUC = 0.6 / 2.8, 5.5 / 6


def test_share_and_auc_on_a_hand_case() -> None:
    assert flipped_share(WEIGHTS, FLIPPED) == pytest.approx(SHARE, rel=1e-12)
    assert clean_vs_flipped_auc(WEIGHTS, FLIPPED) == pytest.approx(AUC, rel=1e-12)
    # Reversed weights: the flipped samples weigh more, the AUC is its complement.
    assert clean_vs_flipped_auc(-WEIGHTS, FLIPPED) == pytest.approx(1 - AUC, rel=1e-12)
    assert clean_vs_flipped_auc(np.ones(5), FLIPPED) == 0.5
    assert flipped_share(np.zeros(5), FLIPPED) is None
    assert clean_vs_flipped_auc(WEIGHTS, np.zeros(5, bool)) is None


def test_log_concatenates_the_steps_of_an_epoch() -> None:
    log = WeightLog()
    assert log.record() == {}  # a clean row: no keys
    log.add(torch.tensor(WEIGHTS[:2]), torch.tensor(FLIPPED[:2]))
    log.add(torch.tensor(WEIGHTS[2:]), torch.tensor(FLIPPED[2:]))
    log.end_epoch()
    log.end_epoch()  # an epoch without weights (warm-up): null
    rec = log.record()
    assert rec["flipped_weight_share"][0] == pytest.approx(SHARE, rel=1e-12)
    assert rec["weight_auc_clean_vs_flipped"][0] == pytest.approx(AUC, rel=1e-12)
    assert rec["flipped_weight_share"][1] is None


class FixedWeights(torch.nn.Module):
    """A weight net whose outputs are set by hand."""

    def __init__(self, weights: np.ndarray) -> None:
        super().__init__()
        self.w = torch.tensor(weights)

    def forward(self, losses: torch.Tensor) -> torch.Tensor:
        return self.w.to(losses.dtype)


@pytest.mark.parametrize("normalize", [False, True])
def test_mwnet_logs_its_real_step_weights_on_a_tiny_noisy_set(normalize: bool) -> None:
    """Five samples, two with flipped labels, through the trainer's batch masks and a real step."""
    gen = torch.Generator().manual_seed(0)
    clean = torch.tensor([0, 1, 2, 0, 1])
    noisy = torch.where(torch.tensor(FLIPPED), (clean + 1) % 3, clean)
    split = Split(torch.randn(5, 4, generator=gen, dtype=torch.float64), noisy, torch.arange(5), clean)
    perm = torch.randperm(5, generator=torch.Generator().manual_seed(3))  # a shuffled batch
    x, y, flipped = split.x[perm], split.y[perm], (split.y != split.clean_y)[perm]
    model = torch.nn.Linear(4, 3).double()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    meta = (x, clean[_order(split, x)])
    ctx = TrainContext(3, [2, 2, 1], 1, 1, lambda size: itertools.repeat(meta))
    method = build_method("mwnet", {"normalize": normalize, "warmup_epochs": 1}, ctx)
    order = _order(split, x)
    method.vnet = FixedWeights(WEIGHTS[order.numpy()])
    method.setup(model, opt)
    method.observe_batch(flipped)
    method.frozen_loss(model(x), y)
    method.on_epoch_end(0)
    rec = method.weight_log.record()
    assert rec["flipped_weight_share"] == [pytest.approx(SHARE, rel=1e-12)]
    assert rec["weight_auc_clean_vs_flipped"] == [pytest.approx(AUC, rel=1e-12)]


def _order(split: Split, x: torch.Tensor) -> torch.Tensor:
    """The split positions of the rows of ``x``."""
    return torch.tensor([int((split.x == row).all(1).nonzero()) for row in x])


@pytest.mark.parametrize("name", ["l2rw", "mwnet", "gdw"])
def test_noisy_row_records_the_diagnostic(name: str, tmp_path) -> None:
    from lpg_meta.config import resolve_config
    from lpg_meta.train.trainer import train

    cfg = {
        "dataset": "mnist1d",
        "method": name,
        "data": {"num_samples": 600, "noise": "sym_excl", "noise_rate": 0.4},
        "train": {"epochs": 1, "progress": "none", "max_steps_per_epoch": 3},
    }
    rec = train(resolve_config(cfg))[name]
    share, auc = rec["flipped_weight_share"], rec["weight_auc_clean_vs_flipped"]
    assert len(share) == len(auc) == 1 and 0 < share[0] < 1 and 0 <= auc[0] <= 1
    clean = {**cfg, "data": {"num_samples": 600}}
    assert "flipped_weight_share" not in train(resolve_config(clean))[name]


