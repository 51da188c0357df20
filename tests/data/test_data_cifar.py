"""CIFAR-10 / CIFAR-100 loaders on tiny folders written in the real on-disk formats.

torchvision verifies each file against the md5 of the official release, which a generated
folder cannot match; the tests swap in the md5s of the files they wrote (class attributes,
restored by monkeypatch), so the product still goes through torchvision's real reader.
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.datasets as tvd

from lpg_meta.data import build_data
from lpg_meta.data.noise import CIFAR10_ASYM
from lpg_meta.errors import UserError

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


def test_cifar10_reads_the_real_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows, labels = write_cifar10(tmp_path, monkeypatch)
    b = build_data("cifar10", {"root": str(tmp_path), "meta_per_class": 2}, seed=0)
    assert b.num_classes == 10 and b.input_shape == (3, 32, 32)
    assert b.class_names[9] == "truck" and b.default_model == "resnet32"
    assert b.augment == "crop_flip" and len(b.mean) == 3 and len(b.std) == 3
    assert [len(s) for s in (b.train, b.meta, b.val, b.test)] == [60, 20, 20, 20]
    assert b.train_counts == [6] * 10  # n_max 5000 capped at the 10 - 2 - 2 left a class
    for split in (b.train, b.meta, b.val, b.test):
        idx = split.index.numpy()
        expected = torch.from_numpy(rows[idx].reshape(-1, 3, 32, 32)).float() / 255
        assert torch.equal(split.x, expected)
        assert np.array_equal(split.clean_y.numpy(), labels[idx])
    assert b.test.index.min().item() == 100  # test pool follows the 100 training images


def test_cifar10_builtin_asym_and_env_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_cifar10(tmp_path, monkeypatch)
    monkeypatch.setenv("LPG_DATA", str(tmp_path))
    b = build_data("cifar10", {"meta_per_class": 2, "noise": "asym", "noise_rate": 0.4}, seed=0)
    tr = b.train
    flipped = tr.y != tr.clean_y
    assert flipped.any()
    for c, n in zip(tr.clean_y[flipped].tolist(), tr.y[flipped].tolist(), strict=True):
        assert CIFAR10_ASYM[c] == n
    assert b.noise["map"] == CIFAR10_ASYM


def test_cifar100_fine_labels_and_asym(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_cifar100(tmp_path, monkeypatch)
    params = {"root": str(tmp_path), "meta_per_class": 1, "noise": "asym", "noise_rate": 0.5}
    b = build_data("cifar100", params, seed=0)
    assert b.num_classes == 100 and b.train_counts != [] and len(b.test) == 100
    assert b.train.counts(100, clean=True) == [4] * 100
    tr = b.train
    flipped = tr.y != tr.clean_y
    assert flipped.any()
    src, dst = tr.clean_y[flipped], tr.y[flipped]
    assert torch.equal(dst // 5, src // 5)  # stays in its block of five
    assert torch.equal(dst % 5, (src % 5 + 1) % 5)


def test_missing_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LPG_DATA", raising=False)
    with pytest.raises(UserError, match="cifar-10-batches-py") as err:
        build_data("cifar10", {"root": str(tmp_path)}, seed=0)
    assert "data.download=true" in str(err.value) and "data.root" in str(err.value)
    with pytest.raises(UserError, match="cifar-100-python"):
        build_data("cifar100", {"root": str(tmp_path / "nowhere")}, seed=0)


def test_corrupt_folder(tmp_path: Path) -> None:
    # Files in place, but their md5s are not the official ones: torchvision rejects them.
    write_cifar10(tmp_path, monkeypatch=None)
    with pytest.raises(UserError, match="not found or corrupt"):
        build_data("cifar10", {"root": str(tmp_path)}, seed=0)


def test_unreadable_batch_with_matching_md5(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_cifar10(tmp_path, monkeypatch)
    bad = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    bad.write_bytes(bad.read_bytes()[:100])  # truncated pickle
    patched = [[n, _md5(bad) if n == "data_batch_3" else m] for n, m in tvd.CIFAR10.train_list]
    monkeypatch.setattr(tvd.CIFAR10, "train_list", patched)
    with pytest.raises(UserError, match="cifar-10-batches-py"):
        build_data("cifar10", {"root": str(tmp_path)}, seed=0)
