"""Data sources, splits and label noise (docs/method.md §5).

Each source module registers its class in ``DATASETS`` (declared in ``lpg_meta/catalog/data.py``,
imported when data are built); ``build_data`` turns a name, user
settings and a seed into a ``DataBundle`` (see ``lpg_meta.data.base`` for the tensor and
index conventions).
"""

from __future__ import annotations

from lpg_meta.data.augment import augment_batch, normalize_batch
from lpg_meta.data.base import DataBundle, Pool, Source, Split
from lpg_meta.data.build import build_data, check_data_settings
from lpg_meta.registry import DATASETS

__all__ = [
    "DATASETS",
    "DataBundle",
    "Pool",
    "Source",
    "Split",
    "augment_batch",
    "build_data",
    "check_data_settings",
    "normalize_batch",
]

