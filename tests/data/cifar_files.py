"""Tiny CIFAR-10 / CIFAR-100 folders in the real on-disk formats (a helper, not a test file).

torchvision verifies each file against the md5 of the official release, which a generated
folder cannot match; ``write_*`` swap in the md5s of the files they wrote (class attributes,
set through a ``pytest.MonkeyPatch`` so they are restored), so the product still goes through
torchvision's real reader.
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest
import torchvision.datasets as tvd

TRAIN_PER_CLASS_10 = 10  # CIFAR-10: 5 batches x 2 images a class


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _dump(path: Path, obj: dict) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def _images(rng: np.random.Generator, n: int) -> np.ndarray:
    # The real layout: one row per image, 1024 red, then 1024 green, then 1024 blue bytes.
    return rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)


def write_cifar10(root: Path, monkeypatch: pytest.MonkeyPatch | None) -> tuple[np.ndarray, np.ndarray]:
    """Write ``cifar-10-batches-py``; return all rows (train then test) and labels."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows, labels, train_list = [], [], []
    for b in range(1, 6):
        data, y = _images(rng, 20), [c for c in range(10) for _ in range(2)]
        _dump(folder / f"data_batch_{b}", {"batch_label": f"training batch {b} of 5",
                                           "labels": y, "data": data, "filenames": []})
        rows.append(data), labels.extend(y)
        train_list.append([f"data_batch_{b}", _md5(folder / f"data_batch_{b}")])
    data, y = _images(rng, 20), [c % 10 for c in range(20)]
    _dump(folder / "test_batch", {"batch_label": "testing batch 1 of 1", "labels": y, "data": data})
    rows.append(data), labels.extend(y)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    _dump(folder / "batches.meta", {"label_names": names, "num_cases_per_batch": 20, "num_vis": 3072})
    if monkeypatch is not None:
        monkeypatch.setattr(tvd.CIFAR10, "train_list", train_list)
        monkeypatch.setattr(tvd.CIFAR10, "test_list", [["test_batch", _md5(folder / "test_batch")]])
        meta = {**tvd.CIFAR10.meta, "md5": _md5(folder / "batches.meta")}
        monkeypatch.setattr(tvd.CIFAR10, "meta", meta)
    return np.concatenate(rows), np.asarray(labels)


def write_cifar100(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Write ``cifar-100-python``: 6 training and 1 test image a class."""
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for split, per_class in (("train", 6), ("test", 1)):
        fine = [c for c in range(100) for _ in range(per_class)]
        _dump(folder / split, {"filenames": [], "batch_label": split, "fine_labels": fine,
                               "coarse_labels": [c // 5 for c in fine],
                               "data": _images(rng, len(fine))})
    _dump(folder / "meta", {"fine_label_names": [f"c{i}" for i in range(100)],
                            "coarse_label_names": [f"s{i}" for i in range(20)]})
    monkeypatch.setattr(tvd.CIFAR100, "train_list", [["train", _md5(folder / "train")]])
    monkeypatch.setattr(tvd.CIFAR100, "test_list", [["test", _md5(folder / "test")]])
    monkeypatch.setattr(tvd.CIFAR100, "meta", {**tvd.CIFAR100.meta, "md5": _md5(folder / "meta")})
