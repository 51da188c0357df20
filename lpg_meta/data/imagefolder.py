"""A user's own class-per-folder images.

Expected layout (class names are the sub-folder names, sorted to give labels 0..C-1)::

    ROOT/
      train/
        cat/   img001.png  img002.jpg ...
        dog/   ...
      test/
        cat/   ...
        dog/   ...

Any extension torchvision's ImageFolder accepts is read (png, jpg, jpeg, bmp, ...). Images
are converted to RGB and resized to ``image_size`` x ``image_size``. ``test/`` may lack a
class but must not add one. Pooled indices: ``train/`` files in sorted order, then ``test/``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lpg_meta.data.base import Pool, Source
from lpg_meta.errors import UserError
from lpg_meta.registry import DATASETS

LAYOUT = "ROOT/train/CLASS/*.png and ROOT/test/CLASS/*.png"
LAYOUT_HINT = f"expected {LAYOUT}"


def _read_images(samples: list[tuple[str, int]], size: int) -> tuple[torch.Tensor, np.ndarray]:
    from PIL import Image, UnidentifiedImageError

    images = np.empty((len(samples), size, size, 3), dtype=np.uint8)
    for i, (path, _) in enumerate(samples):
        try:
            with Image.open(path) as img:
                rgb = img.convert("RGB")
                if rgb.size != (size, size):
                    rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
                images[i] = np.asarray(rgb)
        except (OSError, UnidentifiedImageError) as e:
            raise UserError(f"data.root: cannot read image {path} ({e}).") from None
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255.0)
    y = np.asarray([label for _, label in samples], dtype=np.int64)
    return x, y


@DATASETS.register("imagefolder")
class ImageFolderSource(Source):
    """Images from ``root/train`` and ``root/test``; ``x`` of shape ``(N, 3, S, S)`` in [0, 1]."""


    @classmethod
    def check_files(cls, params: dict[str, Any], where: str = "data") -> None:
        """``ROOT/train`` and ``ROOT/test`` must exist."""
        root, layout = params["root"], LAYOUT
        if not root:
            raise UserError(f"{where}.root is not set; set it to the image folder ({layout}).")
        root = Path(os.path.expanduser(os.fspath(root)))
        for split in ("train", "test"):
            if not (root / split).is_dir():
                raise UserError(f"{where}.root: no folder {root / split}; "
                                f"set {where}.root to a folder laid out as {layout}.")

    @classmethod
    def load(cls, params: dict[str, Any]) -> Pool:
        from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset

        root, size = params["root"], params["image_size"]
        if not root or not isinstance(root, (str, os.PathLike)):
            raise UserError(f"data.root must name the image folder ({LAYOUT_HINT}), got {root!r}.")
        if size < 4:
            raise UserError(f"data.image_size must be at least 4, got {size}.")
        root = os.path.expanduser(os.fspath(root))
        train_dir, test_dir = os.path.join(root, "train"), os.path.join(root, "test")
        for d in (train_dir, test_dir):
            if not os.path.isdir(d):
                raise UserError(f"data.root: no folder {d} ({LAYOUT_HINT}).")
        try:
            classes, class_to_idx = find_classes(train_dir)
            extra = sorted(set(find_classes(test_dir)[0]) - set(classes))
            if extra:
                raise UserError(f"data.root: {test_dir} has classes not in train/: {extra}.")
            train_samples = make_dataset(train_dir, class_to_idx, extensions=IMG_EXTENSIONS)
            test_samples = make_dataset(
                test_dir, class_to_idx, extensions=IMG_EXTENSIONS, allow_empty=True
            )
        except FileNotFoundError as e:
            raise UserError(f"data.root: {e} ({LAYOUT_HINT}).") from None
        if not test_samples:
            raise UserError(f"data.root: no images under {test_dir} ({LAYOUT_HINT}).")
        x_train, y_train = _read_images(train_samples, size)
        x_test, y_test = _read_images(test_samples, size)
        return Pool(
            x_train=x_train,
            y_train=y_train,
            x_test=x_test,
            y_test=y_test,
            num_classes=len(classes),
            augment="crop_flip",
            mean=x_train.mean(dim=(0, 2, 3)).tolist(),
            std=x_train.std(dim=(0, 2, 3)).clamp_min(1e-6).tolist(),
            class_names=list(classes),
        )
