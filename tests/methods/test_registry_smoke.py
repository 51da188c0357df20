"""Every registered method (and the plug-ins) trains end to end on tiny real data.

Parametrized over the registry: a newly registered method gets this smoke test for free.
"""

import json

import pytest
import torch

from lpg_meta.config import resolve_config
from lpg_meta.methods import METHODS
from lpg_meta.train import trainer

PLUG_INS = ["lpg+la", "lpg+gce", "lpg+sam", "lpg_scale+focal"]
DATA = {
    "balanced": {},
    "longtail": {"imbalance": 10.0},
    "noisy": {"noise": "sym_excl", "noise_rate": 0.4},
}


@pytest.fixture
def built_models(monkeypatch):
    """Record each model the trainer builds, with a copy of its initial parameters."""
    built = []
    original = trainer.build_model

    def spy(*args, **kwargs):
        model = original(*args, **kwargs)
        built.append((model, [p.detach().clone() for p in model.parameters()]))
        return model

    monkeypatch.setattr(trainer, "build_model", spy)
    return built


@pytest.mark.parametrize("data", sorted(DATA))
@pytest.mark.parametrize("method", [*METHODS.names(), *PLUG_INS])
def test_method_trains_and_writes_a_valid_result(method, data, tmp_path, built_models):
    cfg = resolve_config({
        "dataset": "mnist1d", "method": method, "seed": 0,
        "data": {"num_samples": 500, "meta_per_class": 5, **DATA[data]},
        "train": {"epochs": 1, "batch_size": 64, "progress": "none"},
    })
    trainer.train(cfg, tmp_path)
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["status"] == "ok" and result["config"]["method"] == method
    assert all(torch.isfinite(torch.tensor(h["train_loss"])) for h in result["history"])
    assert 0.0 <= result["metrics"]["test"]["balanced_accuracy"] <= 1.0
    model, initial = built_models[0]
    assert any(not torch.equal(p, q) for p, q in zip(model.parameters(), initial, strict=True))
