"""CIFAR-10 / CIFAR-100 loaders on tiny folders written in the real on-disk formats, and the
LDAM-DRW long-tail counts of the CIFAR protocols.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.datasets as tvd
from cifar_files import write_cifar10, write_cifar100

from lpg_meta.data import build_data
from lpg_meta.data.build import nominal_train_size
from lpg_meta.data.noise import CIFAR10_ASYM
from lpg_meta.data.splits import long_tail_counts, make_splits
from lpg_meta.errors import UserError


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


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
    text = str(err.value)
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in text  # where to fetch it
    assert f"tar xzf cifar-10-python.tar.gz -C {tmp_path}" in text  # and where it goes
    assert "LPG_DATA" in text and "--data-root" in text and "data.download=true" in text
    assert "download=True" not in text  # torchvision's advice, which contradicts ours
    with pytest.raises(UserError, match="cifar-100-python.tar.gz"):
        build_data("cifar100", {"root": str(tmp_path / "nowhere")}, seed=0)


def test_no_root_at_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LPG_DATA", raising=False)
    with pytest.raises(UserError, match=r"LPG_DATA.*--data-root.*cifar-10-batches-py/ and cifar-100-python/"):
        build_data("cifar10", {}, seed=0)


def test_corrupt_folder(tmp_path: Path) -> None:
    # Files in place, but their md5s are not the official ones: torchvision rejects them.
    write_cifar10(tmp_path, monkeypatch=None)
    with pytest.raises(UserError, match="not found or corrupt") as err:
        build_data("cifar10", {"root": str(tmp_path)}, seed=0)
    assert "download=True" not in str(err.value)


def test_unreadable_batch_with_matching_md5(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_cifar10(tmp_path, monkeypatch)
    bad = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    bad.write_bytes(bad.read_bytes()[:100])  # truncated pickle
    patched = [[n, _md5(bad) if n == "data_batch_3" else m] for n, m in tvd.CIFAR10.train_list]
    monkeypatch.setattr(tvd.CIFAR10, "train_list", patched)
    with pytest.raises(UserError, match="cifar-10-batches-py"):
        build_data("cifar10", {"root": str(tmp_path)}, seed=0)


def _ldam_drw_counts(img_max: int, imb: float, cls_num: int) -> list[int]:
    # kaidic/LDAM-DRW imbalance_cifar.py, get_img_num_per_cls, 'exp': imb_factor = 1 / imb.
    imb_factor = 1.0 / imb
    return [int(img_max * (imb_factor ** (cls_idx / (cls_num - 1.0)))) for cls_idx in range(cls_num)]


# Training-set sizes of CIFAR-10-LT / CIFAR-100-LT as LDAM-DRW builds them (the sum of its counts).
LT_TOTALS = {(5000, 10, 100): 12406, (5000, 10, 50): 13996, (5000, 10, 10): 20431,
             (500, 100, 100): 10847, (500, 100, 50): 12608, (500, 100, 10): 19573}


@pytest.mark.parametrize(("n_max", "classes", "imb"), sorted(LT_TOTALS))
def test_long_tail_counts_follow_ldam_drw(n_max: int, classes: int, imb: int) -> None:
    ours = long_tail_counts(n_max, imb, classes, "exp")
    assert ours == _ldam_drw_counts(n_max, imb, classes)
    assert sum(ours) == LT_TOTALS[(n_max, classes, imb)]
    assert ours[0] == n_max and ours[-1] == n_max // imb


def test_cifar10_lt100_by_hand() -> None:
    # n_i = 5000 * (1/100)^(i/9): 5000 * 0.01^(1/9) = 5000 * 0.59948 = 2997.4 -> 2997, ...
    assert long_tail_counts(5000, 100, 10, "exp") == [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
    assert long_tail_counts(500, 100, 100, "exp")[:3] == [500, 477, 455]  # 500 * 0.01^(1/99) = 477.3


@pytest.mark.parametrize(("n_max", "classes"), [(5000, 10), (500, 100)])
def test_meta_and_val_splits_cap_the_head_class(n_max: int, classes: int) -> None:
    """Meta and validation images leave the pool first: the head class keeps n_max - 20.

    With 10 + 10 a class held out (the long-tail rows of benchmarks/cifar.yaml), class 0 has
    n_max - 20 images left, below its LDAM count n_max; every other class keeps its count.
    """
    y = np.repeat(np.arange(classes), n_max)
    pos = make_splits(y, classes, 10, 10, n_max, 100.0, "exp", np.random.default_rng(0))
    counts = np.bincount(y[pos.train], minlength=classes).tolist()
    expected = _ldam_drw_counts(n_max, 100, classes)
    assert counts == [n_max - 20] + expected[1:]
    assert pos.target_counts == expected
    params = {"imbalance": 100, "meta_per_class": 10}
    assert nominal_train_size("cifar10" if classes == 10 else "cifar100", params) == sum(counts)


def test_cifar100_lt10_keeps_480_of_class_1s_488() -> None:
    """CIFAR-100-LT at imbalance 10 (benchmarks/cifar.yaml): classes 0 and 1 both keep 480.

    LDAM's count of class 1 is int(500 * 0.1^(1/99)) = int(488.5) = 488, but 20 of its 500 images
    left for the meta and validation splits first; class 2's 477 still fits.
    """
    y = np.repeat(np.arange(100), 500)
    pos = make_splits(y, 100, 10, 10, 500, 10.0, "exp", np.random.default_rng(0))
    counts = np.bincount(y[pos.train], minlength=100).tolist()
    assert pos.target_counts[:3] == [500, 488, 477]
    assert counts == [480, 480] + pos.target_counts[2:]


def test_data_command_names_the_capped_classes_of_a_cifar100_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The fabricated folder holds 6 training images a class; 1 + 1 leave for meta and val, so 4
    # remain (as 480 of 500 on the real one). Imbalance 5 (10 would ask 0 of the last classes)
    # over 100 classes asks int(6 * 0.2^(c/99)): 6 for class 0, 5 for classes 1-11
    # (6 * 0.2^(11/99) = 5.02, 6 * 0.2^(12/99) = 4.94), so classes 0-11 fall short.
    from lpg_meta.cli import main

    write_cifar100(tmp_path, monkeypatch)
    args = ["data", "--dataset", "cifar100", "--data-root", str(tmp_path), "--set", "data.imbalance=5",
            "--set", "data.n_max=6", "--set", "data.meta_per_class=1"]
    assert main(args) == 0
    out = capsys.readouterr().out
    short = ", ".join(["0: 4 of 6"] + [f"{c}: 4 of 5" for c in range(1, 12)])
    assert f"long tail: 12 class(es) below the asked count (class: kept of asked): {short}\n" in out
