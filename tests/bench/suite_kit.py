"""The tiny long-tail MNIST-1D suite that the multi-worker and crash tests share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def tiny_suite(name: str, epochs: int) -> dict[str, Any]:
    """ce and a tuned lpg_scale on one small long-tail row: 2 trials, 2 seeds, a few seconds a run."""
    return {
        "suite": name,
        "defaults": {"data": {"num_samples": 600}, "train": {"epochs": epochs, "batch_size": 32}},
        "datasets": {"lt": {"source": "mnist1d", "imbalance": 3, "meta_per_class": 5}},
        "methods": {
            "ce": {},
            "lpg_scale": {"params": {"meta_batch_size": 20}, "tune": {"eps": ["log", 0.01, 0.9]}},
        },
        "seeds": [0, 1],
        "tuning": {"trials": 2},
    }


def write_suite(folder: Path, data: dict[str, Any]) -> Path:
    """``folder/suite.yaml`` holding ``data``, its output in ``folder/out``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump({**data, "output": str(folder / "out")}, sort_keys=False))
    return path
