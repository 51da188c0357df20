"""scikit-learn's bundled 8x8 digits (1,797 images, no download)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from lpg_meta.data.base import Pool, Source
from lpg_meta.errors import UserError
from lpg_meta.registry import DATASETS


@DATASETS.register("digits")
class Digits(Source):
    """Digits: ``x`` of shape ``(N, 1, 8, 8)`` with pixels scaled to [0, 1] (raw / 16).

    A stratified ``test_fraction`` (0.3) of the images is the test pool. That cut depends only
    on ``test_split_seed``, not on the run seed, so every run is scored on the same images.
    ``mean`` / ``std`` are those of the training pool. Pooled indices are ``load_digits`` order.
    """


    @classmethod
    def load(cls, params: dict[str, Any]) -> Pool:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        frac = params["test_fraction"]
        if not 0.0 < frac < 1.0:
            raise UserError(f"data.test_fraction must be in (0, 1), got {frac}.")
        digits = load_digits()
        x = torch.tensor(digits.data / 16.0, dtype=torch.float32).view(-1, 1, 8, 8)
        y = np.asarray(digits.target, dtype=np.int64)
        train_idx, test_idx = train_test_split(
            np.arange(len(y)), test_size=frac, stratify=y, random_state=params["test_split_seed"]
        )
        train_idx, test_idx = np.sort(train_idx), np.sort(test_idx)
        x_train = x[torch.as_tensor(train_idx)]
        return Pool(
            x_train=x_train,
            y_train=y[train_idx],
            x_test=x[torch.as_tensor(test_idx)],
            y_test=y[test_idx],
            num_classes=10,
            mean=[float(x_train.mean())],
            std=[float(x_train.std())],
            class_names=[str(c) for c in range(10)],
            train_index=train_idx,
            test_index=test_idx,
        )
