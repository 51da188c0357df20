"""Data containers shared by every source: the loaded pool, the splits and the bundle.

Feature convention: every ``Split.x`` is a float32 tensor of shape ``(N, *input_shape)``.
Images (digits, CIFAR, imagefolder) hold raw intensities in ``[0, 1]``, *not* normalised;
the trainer calls ``bundle.prepare(x, train=...)``, which augments (training batches only)
and then normalises with ``bundle.mean`` / ``bundle.std``. MNIST-1D is already standardised
by its generator, so its ``mean`` / ``std`` are ``None`` and ``prepare`` leaves it alone.

Index convention: ``Split.index`` points into the source's pooled sample list, which is the
source's training pool followed by its test pool (e.g. CIFAR-10: 0..49999 are the official
training images, 50000..59999 the test images; digits: the order of ``load_digits``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import numpy as np
import torch

from lpg_meta.data.augment import augment_batch, normalize_batch
from lpg_meta.results import shot_groups


@dataclass
class Pool:
    """What a source loads: the training pool and the test pool, before any splitting."""

    x_train: torch.Tensor  # float32 (N, *input_shape)
    y_train: np.ndarray  # int64 clean labels
    x_test: torch.Tensor
    y_test: np.ndarray
    num_classes: int
    augment: str | None = None
    mean: list[float] | None = None
    std: list[float] | None = None
    asym_map: dict[int, int] | None = None  # built-in map for ``noise: asym``
    class_names: list[str] | None = None
    train_index: np.ndarray | None = None  # pooled indices; default 0..N-1
    test_index: np.ndarray | None = None  # pooled indices; default N..N+M-1

    def indices(self) -> tuple[np.ndarray, np.ndarray]:
        """Pooled indices of the training pool and of the test pool."""
        n, m = len(self.y_train), len(self.y_test)
        tr = self.train_index if self.train_index is not None else np.arange(n)
        te = self.test_index if self.test_index is not None else np.arange(n, n + m)
        return np.asarray(tr, dtype=np.int64), np.asarray(te, dtype=np.int64)


class Source:
    """A registered dataset: loads its pool (its settings are declared in ``catalog/data.py``).

    ``DATASETS.register`` sets ``name`` and the declared ``display_name``, ``defaults``,
    ``default_model`` and ``pool_counts``.
    """

    name: ClassVar[str] = ""
    display_name: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}
    default_model: ClassVar[str] = "cnn2d"
    pool_counts: ClassVar[list[int] | None] = None

    @classmethod
    def load(cls, params: dict[str, Any]) -> Pool:
        """Load the pool described by resolved ``params`` (raise UserError on user mistakes)."""
        raise NotImplementedError

    @classmethod
    def check_files(cls, params: dict[str, Any], where: str = "data") -> None:
        """Raise a UserError naming ``WHERE.root`` when the source's files are not on disk.

        Only the folder layout is checked, in a moment and before anything runs (reading the
        data is ``load``'s job). The default suits generated or bundled data: nothing to check.
        """


@dataclass
class Split:
    """One split; ``y`` are the training labels (noisy on train), ``clean_y`` the true ones."""

    x: torch.Tensor
    y: torch.Tensor
    index: torch.Tensor
    clean_y: torch.Tensor

    def __len__(self) -> int:
        return int(self.y.numel())

    def counts(self, num_classes: int, clean: bool = False) -> list[int]:
        """Per-class counts of ``y`` (or of ``clean_y``)."""
        labels = self.clean_y if clean else self.y
        return torch.bincount(labels, minlength=num_classes).tolist()


@dataclass
class DataBundle:
    """Everything the trainer needs about one dataset: splits, counts, noise and preprocessing."""

    name: str
    num_classes: int
    input_shape: tuple[int, ...]
    train: Split
    meta: Split
    val: Split
    test: Split
    train_counts: list[int]
    noise: dict
    augment: str | None
    mean: list[float] | None
    std: list[float] | None
    default_model: str
    many_threshold: int
    few_threshold: int
    settings: dict = field(default_factory=dict)  # resolved data settings (seed filled in)
    target_counts: list[int] = field(default_factory=list)  # long-tail counts asked, before capping
    class_names: list[str] | None = None

    def prepare(
        self, x: torch.Tensor, train: bool = False, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Turn a stored batch into model input: augment (training only), then normalise."""
        if train and self.augment is not None:
            x = augment_batch(x, self.augment, generator)
        return normalize_batch(x, self)

    def with_train_subset(self, idx: torch.Tensor) -> DataBundle:
        """The same bundle with only the training examples ``idx`` (its class counts follow)."""
        part = Split(self.train.x[idx], self.train.y[idx], self.train.index[idx], self.train.clean_y[idx])
        return replace(self, train=part, train_counts=part.counts(self.num_classes))

    def shot_groups(self) -> dict[str, list[int]]:
        """Classes in the many / medium / few-shot groups, by training count."""
        return shot_groups(self.train_counts, self.many_threshold, self.few_threshold)

    def summary(self) -> dict:
        """JSON-serialisable description: sizes, per-class counts, noise, thresholds."""
        splits = {"train": self.train, "meta": self.meta, "val": self.val, "test": self.test}
        nonzero = [n for n in self.train_counts if n > 0]
        return {
            "name": self.name,
            "num_classes": self.num_classes,
            "input_shape": list(self.input_shape),
            "sizes": {k: len(s) for k, s in splits.items()},
            "per_class": {
                "train": list(self.train_counts),
                "train_clean": self.train.counts(self.num_classes, clean=True),
                "meta": self.meta.counts(self.num_classes),
                "val": self.val.counts(self.num_classes),
                "test": self.test.counts(self.num_classes),
            },
            "target_counts": list(self.target_counts),
            "realised_imbalance": max(nonzero) / min(nonzero) if nonzero else None,
            "noise": {k: v for k, v in self.noise.items() if k != "transition"},
            "many_threshold": self.many_threshold,
            "few_threshold": self.few_threshold,
            "shot_groups": self.shot_groups(),
            "augment": self.augment,
            "mean": self.mean,
            "std": self.std,
            "default_model": self.default_model,
            "settings": dict(self.settings),
        }
