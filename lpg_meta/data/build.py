"""``build_data``: settings in, a split and noised ``DataBundle`` out; the data settings' cross checks."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from lpg_meta import catalog
from lpg_meta.catalog.data import check_data_settings
from lpg_meta.data.base import DataBundle, Pool, Source, Split
from lpg_meta.data.noise import (
    corrupt_labels,
    noise_record,
    parse_noise_map,
    transition_matrix,
)
from lpg_meta.data.splits import long_tail_counts, make_splits
from lpg_meta.errors import UserError
from lpg_meta.params import resolve_params
from lpg_meta.registry import DATASETS

# Independent streams from one seed: the split permutation and the label noise.
_SPLIT_STREAM, _NOISE_STREAM = 0, 1


def _asym_map(params: dict[str, Any], pool: Pool) -> dict[int, int] | None:
    if params["noise"] != "asym":
        return None
    if params["noise_map"]:
        return parse_noise_map(params["noise_map"], pool.num_classes)
    if pool.asym_map is None:
        raise UserError(
            "data.noise=asym needs data.noise_map on this dataset, e.g. {3: 5, 5: 3} "
            "(source label: target label)."
        )
    return dict(pool.asym_map)


def _split(pool_x: torch.Tensor, pos: np.ndarray, index: np.ndarray, y: np.ndarray,
           clean: np.ndarray) -> Split:
    take = torch.as_tensor(pos, dtype=torch.long)
    return Split(
        x=pool_x[take],
        y=torch.as_tensor(y, dtype=torch.long),
        index=torch.as_tensor(index[pos], dtype=torch.long),
        clean_y=torch.as_tensor(clean, dtype=torch.long),
    )


def build_data(name: str, params: dict[str, Any], seed: int) -> DataBundle:
    """Load dataset ``name`` and cut it as docs/method.md §5 orders: meta, val, long tail, noise.

    Args:
        name: a registered dataset (``mnist1d``, ``digits``, ``cifar10``, ``cifar100``,
            ``imagefolder``).
        params: user settings, checked against the source's declared settings.
        seed: the run seed, used when ``params['seed']`` is None.
    """
    source: type[Source] = DATASETS.get(name)
    resolved = resolve_params(catalog.source(name).params, params, "data")
    check_data_settings(resolved)
    if resolved["seed"] is None:
        resolved["seed"] = int(seed)
    if resolved["val_per_class"] is None:
        resolved["val_per_class"] = resolved["meta_per_class"]
    data_seed = resolved["seed"]

    pool = source.load(resolved)
    mapping = _asym_map(resolved, pool)
    y_pool = np.asarray(pool.y_train, dtype=np.int64)
    pos = make_splits(
        y_pool,
        pool.num_classes,
        resolved["meta_per_class"],
        resolved["val_per_class"],
        resolved["n_max"],
        resolved["imbalance"],
        resolved["profile"],
        np.random.default_rng([data_seed, _SPLIT_STREAM]),
    )
    clean_train = y_pool[pos.train]
    noisy_train = corrupt_labels(
        clean_train,
        resolved["noise"],
        resolved["noise_rate"],
        pool.num_classes,
        np.random.default_rng([data_seed, _NOISE_STREAM]),
        mapping,
    )
    transition = transition_matrix(
        resolved["noise"], resolved["noise_rate"], pool.num_classes, mapping
    )
    train_index, test_index = pool.indices()
    y_test = torch.tensor(np.asarray(pool.y_test), dtype=torch.long)
    # The test split is the whole test pool, untouched: no copy, no selection.
    test = Split(pool.x_test, y_test, torch.tensor(test_index), y_test.clone())

    train = _split(pool.x_train, pos.train, train_index, noisy_train, clean_train)
    resolved["n_max"] = pos.n_max
    return DataBundle(
        name=name,
        num_classes=pool.num_classes,
        input_shape=tuple(pool.x_train.shape[1:]),
        train=train,
        meta=_split(pool.x_train, pos.meta, train_index, y_pool[pos.meta], y_pool[pos.meta]),
        val=_split(pool.x_train, pos.val, train_index, y_pool[pos.val], y_pool[pos.val]),
        test=test,
        train_counts=train.counts(pool.num_classes),
        noise=noise_record(
            resolved["noise"], resolved["noise_rate"], clean_train, noisy_train, transition, mapping
        ),
        augment=pool.augment,
        mean=pool.mean,
        std=pool.std,
        default_model=source.default_model,
        many_threshold=resolved["many_threshold"],
        few_threshold=resolved["few_threshold"],
        settings=resolved,
        target_counts=pos.target_counts,
        class_names=pool.class_names,
    )


def nominal_train_size(name: str, params: dict[str, Any]) -> int | None:
    """Training-split size that ``build_data`` would give, from the source's fixed pool counts.

    The same arithmetic as ``make_splits`` (meta and validation first, then the long-tail
    counts capped by what is left) without loading any file; None for sources whose pool is
    not fixed (e.g. ``mnist1d``'s ``num_samples``, a user's image folder).
    """
    source: type[Source] = DATASETS.get(name)
    if source.pool_counts is None:
        return None
    resolved = resolve_params(catalog.source(name).params, params, "data")
    val = resolved["val_per_class"]
    need = resolved["meta_per_class"] + (resolved["meta_per_class"] if val is None else val)
    available = [n - need for n in source.pool_counts]
    if min(available) < 1:
        return None
    n_max = resolved["n_max"] if resolved["n_max"] is not None else min(available)
    target = long_tail_counts(n_max, resolved["imbalance"], len(available), resolved["profile"])
    return sum(min(t, a) for t, a in zip(target, available, strict=True))
