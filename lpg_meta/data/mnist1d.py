"""MNIST-1D, generated offline with the mnist1d package (never its download path)."""

from __future__ import annotations

import random
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from lpg_meta.data.base import Pool, Source
from lpg_meta.errors import UserError
from lpg_meta.registry import DATASETS

NUM_CLASSES = 10


@lru_cache(maxsize=4)
def _generate(num_samples: int, generator_seed: int) -> tuple[np.ndarray, ...]:
    """Run the mnist1d generator; cached because 10,000 samples take a few seconds."""
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = num_samples
    args.seed = generator_seed
    # make_dataset reseeds the global `random` and `np.random` states; put them back so that
    # building data does not silently change the randomness of everything after it.
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    arrays = (data["x"], data["y"], data["x_test"], data["y_test"])
    for a in arrays:
        a.setflags(write=False)  # the cache hands out the same arrays on every call
    return arrays


@DATASETS.register("mnist1d")
class Mnist1d(Source):
    """MNIST-1D: 10 classes of 40-sample signals, standardised by the generator.

    ``num_samples`` are generated; the generator's own 80/20 split gives the training pool
    and the test pool. ``x`` has shape ``(N, 1, 40)`` (channels first, for conv1d).
    """


    @classmethod
    def load(cls, params: dict[str, Any]) -> Pool:
        n = params["num_samples"]
        if n < 10 * NUM_CLASSES:
            raise UserError(f"data.num_samples must be at least {10 * NUM_CLASSES}, got {n}.")
        x, y, x_test, y_test = _generate(n, params["generator_seed"])

        def as_signal(a: np.ndarray) -> torch.Tensor:
            return torch.tensor(a, dtype=torch.float32).unsqueeze(1)

        return Pool(
            x_train=as_signal(x),
            y_train=np.array(y, dtype=np.int64),
            x_test=as_signal(x_test),
            y_test=np.array(y_test, dtype=np.int64),
            num_classes=NUM_CLASSES,
            class_names=[str(c) for c in range(NUM_CLASSES)],
        )
