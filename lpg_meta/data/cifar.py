"""CIFAR-10 and CIFAR-100 from a local folder, read with torchvision (offline by default).

The folder is ``data.root``, else ``$LPG_DATA`` (which ``--data-root`` sets). It holds the
extracted python-pickle archives: ``cifar-10-batches-py/`` and ``cifar-100-python/``.
"""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from lpg_meta.data.base import Pool, Source
from lpg_meta.data.noise import CIFAR10_ASYM, cifar100_asym
from lpg_meta.errors import UserError
from lpg_meta.registry import DATASETS

ROOT_ENV = "LPG_DATA"
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"
ARCHIVE_URL = "https://www.cs.toronto.edu/~kriz/{archive}"  # the "python version" archives
# The normalisation of the LDAM-DRW code, used there for both CIFAR-10 and CIFAR-100.
CIFAR_MEAN = [0.4914, 0.4822, 0.4465]
CIFAR_STD = [0.2023, 0.1994, 0.2010]


def resolve_root(params: dict[str, Any]) -> str:
    """``data.root``, else ``$LPG_DATA``; a UserError when neither is set."""
    root = params.get("root") or os.environ.get(ROOT_ENV)
    if not root:
        raise UserError(
            f"no data folder: set ${ROOT_ENV} (export {ROOT_ENV}=FOLDER), pass --data-root FOLDER "
            f"or --set data.root=FOLDER. The folder holds cifar-10-batches-py/ and "
            f"cifar-100-python/, extracted from the python-version archives of {CIFAR_URL}."
        )
    if not isinstance(root, (str, os.PathLike)):
        raise UserError(f"data.root must be a folder path, got {root!r}.")
    return os.path.expanduser(os.fspath(root))


def to_images(data: np.ndarray) -> torch.Tensor:
    """uint8 ``(N, H, W, C)`` -> float32 ``(N, C, H, W)`` in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(data)).permute(0, 3, 1, 2).float().div_(255.0)


class _Cifar(Source):
    """Shared loader; subclasses name the torchvision class, folder and asym map."""

    folder: ClassVar[str] = ""
    title: ClassVar[str] = ""
    tv_class: ClassVar[str] = ""
    archive: ClassVar[str] = ""  # file name at ARCHIVE_URL
    files: ClassVar[str] = ""  # what the folder holds, for the error message

    @classmethod
    def asym_map(cls) -> dict[int, int]:
        raise NotImplementedError

    @classmethod
    def check_files(cls, params: dict[str, Any], where: str = "data") -> None:
        """``ROOT/<its folder>`` must exist, unless ``download`` is set."""
        if params.get("download"):
            return  # torchvision creates the folder and fetches the data
        root = params["root"] or os.environ.get(ROOT_ENV)
        if not root:
            raise UserError(f"{where}.root is not set and ${ROOT_ENV} is empty: set {where}.root to the folder "
                            f"that holds '{cls.folder}', pass --data-root FOLDER or export {ROOT_ENV}=FOLDER.")
        root = Path(os.path.expanduser(os.fspath(root)))
        if not (root / cls.folder).is_dir():
            found = "has no" if root.is_dir() else "does not exist, so it has no"
            raise UserError(f"{where}.root: {root} {found} '{cls.folder}' folder; extract it there (from {CIFAR_URL}), "
                            f"or set {where}.download: true to fetch it when the network allows.")

    @classmethod
    def load(cls, params: dict[str, Any]) -> Pool:
        import torchvision.datasets as tvd

        root = resolve_root(params)
        dataset = getattr(tvd, cls.tv_class)
        try:
            # torchvision checks the md5 of every file, so a truncated file is caught here.
            train = dataset(root, train=True, download=bool(params["download"]))
            test = dataset(root, train=False, download=False)
        except (RuntimeError, OSError, EOFError, KeyError, ValueError, pickle.UnpicklingError) as e:
            url = ARCHIVE_URL.format(archive=cls.archive)
            # torchvision's own advice (download=True) contradicts ours: nothing downloads unasked.
            reason = re.sub(r"\s*You can use download=True[^.]*\.?", "", str(e)).strip()
            raise UserError(
                f"{cls.title} not found or corrupt in the data folder {root}"
                f"{f' ({reason})' if reason else ''}. Expected "
                f"{os.path.join(root, cls.folder)}/ with {cls.files} (the python-pickle version). "
                f"Download {url} yourself and extract it there: tar xzf {cls.archive} -C {root}. "
                f"The folder comes from data.root, --data-root or ${ROOT_ENV}; nothing is downloaded "
                f"unless you add --set data.download=true (and the network allows)."
            ) from None
        classes = list(train.classes)
        return Pool(
            x_train=to_images(train.data),
            y_train=np.asarray(train.targets, dtype=np.int64),
            x_test=to_images(test.data),
            y_test=np.asarray(test.targets, dtype=np.int64),
            num_classes=len(classes),
            augment="crop_flip",
            mean=list(CIFAR_MEAN),
            std=list(CIFAR_STD),
            asym_map=cls.asym_map(),
            class_names=classes,
        )


@DATASETS.register("cifar10")
class Cifar10(_Cifar):
    """CIFAR-10: ``x`` of shape ``(N, 3, 32, 32)`` in [0, 1]; ``root`` holds ``cifar-10-batches-py``."""

    folder = "cifar-10-batches-py"
    title = "CIFAR-10"
    tv_class = "CIFAR10"
    archive = "cifar-10-python.tar.gz"
    files = "data_batch_1..data_batch_5, test_batch, batches.meta"

    @classmethod
    def asym_map(cls) -> dict[int, int]:
        return dict(CIFAR10_ASYM)


@DATASETS.register("cifar100")
class Cifar100(_Cifar):
    """CIFAR-100 (fine labels): ``root`` holds ``cifar-100-python``."""

    folder = "cifar-100-python"
    title = "CIFAR-100"
    tv_class = "CIFAR100"
    archive = "cifar-100-python.tar.gz"
    files = "train, test, meta"

    @classmethod
    def asym_map(cls) -> dict[int, int]:
        return cifar100_asym()
