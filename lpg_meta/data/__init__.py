"""Data sources, splits and label noise (docs/method.md §5).

Each source module registers itself in ``DATASETS``; ``build_data`` turns a name, user
settings and a seed into a ``DataBundle`` (see ``lpg_meta.data.base`` for the tensor and
index conventions).
"""

from __future__ import annotations

from lpg_meta.data.augment import augment_batch, normalize_batch
from lpg_meta.data.base import DataBundle, Pool, Source, Split
from lpg_meta.data.build import build_data, check_data_settings, data_defaults
from lpg_meta.registry import DATASETS
from lpg_meta.registry_import import import_submodules

import_submodules(__name__, __path__, skip=("augment", "base", "build", "noise", "splits"))

__all__ = [
    "DATASETS",
    "DataBundle",
    "Pool",
    "Source",
    "Split",
    "augment_batch",
    "build_data",
    "check_data_settings",
    "data_defaults",
    "dataset_names",
    "normalize_batch",
]


def dataset_names() -> list[str]:
    """Registered dataset names."""
    return DATASETS.names()
