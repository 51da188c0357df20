"""The imagefolder source on a tiny folder of PNGs written with PIL."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from lpg_meta.data import build_data
from lpg_meta.errors import UserError

COLOURS = {"blue": (0, 0, 255), "green": (0, 255, 0), "red": (255, 0, 0)}


def write_folder(root: Path, train_per_class: int = 8, test_per_class: int = 2) -> None:
    for split, n in (("train", train_per_class), ("test", test_per_class)):
        for name, rgb in COLOURS.items():
            d = root / split / name
            d.mkdir(parents=True)
            for i in range(n):
                # Odd sizes and one greyscale image: the loader resizes and converts to RGB.
                size = (10 + i, 12)
                img = Image.new("RGB", size, rgb)
                if name == "red" and i == 0:
                    img = Image.new("L", size, 255)
                img.save(d / f"{i:03d}.png")


def test_loads_resizes_and_labels(tmp_path: Path) -> None:
    write_folder(tmp_path)
    params = {"root": str(tmp_path), "image_size": 16, "meta_per_class": 1}
    b = build_data("imagefolder", params, seed=0)
    assert b.class_names == ["blue", "green", "red"] and b.num_classes == 3
    assert b.input_shape == (3, 16, 16) and b.augment == "crop_flip"
    assert [len(s) for s in (b.train, b.meta, b.val, b.test)] == [18, 3, 3, 6]
    assert len(b.mean) == 3 and len(b.std) == 3
    for split in (b.train, b.meta, b.val, b.test):
        for x, y in zip(split.x, split.clean_y.tolist(), strict=True):
            rgb = [x[ch].mean().item() for ch in range(3)]
            assert rgb[2 - y] == pytest.approx(1.0)  # blue=0 -> channel 2, red=2 -> channel 0
    # Pooled index 16 is train/red/000.png (sorted files: 8 blue, 8 green, then red), a
    # greyscale white image that must come back as three channels of 1.
    splits = (b.train, b.meta, b.val)
    grey = torch.cat([s.x[s.index == 16] for s in splits])
    assert grey.shape == (1, 3, 16, 16) and torch.equal(grey, torch.ones_like(grey))
    prepared = b.prepare(b.train.x[:4], train=True, generator=torch.Generator().manual_seed(0))
    assert prepared.shape == (4, 3, 16, 16)


def test_layout_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="data.root"):
        build_data("imagefolder", {"root": str(tmp_path / "missing")}, seed=0)
    write_folder(tmp_path)
    (tmp_path / "test" / "purple").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / "test" / "purple" / "a.png")
    with pytest.raises(UserError, match="purple"):
        build_data("imagefolder", {"root": str(tmp_path)}, seed=0)


def test_unreadable_image(tmp_path: Path) -> None:
    write_folder(tmp_path)
    (tmp_path / "train" / "red" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(UserError, match="broken.png"):
        build_data("imagefolder", {"root": str(tmp_path), "meta_per_class": 1}, seed=0)
