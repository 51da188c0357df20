"""Meta / validation / long-tailed training splits from one seeded permutation (docs/method.md §5)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lpg_meta.errors import UserError


def long_tail_counts(n_max: int, imbalance: float, num_classes: int, profile: str) -> list[int]:
    """Per-class training counts in label order.

    ``exp``: n_c = int(n_max * rho^(-c/(C-1))); ``step``: the first C//2 classes keep
    ``n_max``, the rest int(n_max / rho). E.g. n_max=100, rho=10, C=3, exp -> [100, 31, 10].
    """
    if profile == "exp":
        if num_classes == 1:
            return [int(n_max)]
        return [int(n_max * imbalance ** (-c / (num_classes - 1))) for c in range(num_classes)]
    if profile == "step":
        head = num_classes // 2
        return [int(n_max) if c < head else int(n_max / imbalance) for c in range(num_classes)]
    raise ValueError(f"unknown profile {profile!r}")


@dataclass
class SplitPositions:
    """Positions into the training pool of each split, plus the counts asked and available."""

    meta: np.ndarray
    val: np.ndarray
    train: np.ndarray
    target_counts: list[int]
    available: list[int]
    n_max: int


def make_splits(
    y: np.ndarray,
    num_classes: int,
    meta_per_class: int,
    val_per_class: int,
    n_max: int | None,
    imbalance: float,
    profile: str,
    rng: np.random.Generator,
) -> SplitPositions:
    """Cut the training pool into meta, validation and long-tailed training positions.

    One permutation decides everything: within each class, samples are taken in permutation
    order, first for meta, then for validation, then for training, so the three are disjoint
    and a seed fixes them all.
    """
    perm = rng.permutation(len(y))
    per_class = [perm[y[perm] == c] for c in range(num_classes)]
    need = meta_per_class + val_per_class
    for c, pos in enumerate(per_class):
        if len(pos) <= need:
            raise UserError(
                f"class {c} has only {len(pos)} training-pool samples, not more than "
                f"data.meta_per_class + data.val_per_class = {need}; lower those settings."
            )
    available = [len(pos) - need for pos in per_class]
    if n_max is None:
        n_max = min(available)
    target = long_tail_counts(n_max, imbalance, num_classes, profile)
    if min(target) < 1:
        c = target.index(min(target))
        raise UserError(
            f"data.imbalance={imbalance:g} with n_max={n_max} leaves class {c} with no training "
            f"samples; lower data.imbalance or raise data.n_max."
        )
    take = [min(t, a) for t, a in zip(target, available, strict=True)]

    rank = np.empty(len(perm), dtype=np.int64)
    rank[perm] = np.arange(len(perm))

    def in_perm_order(parts: list[np.ndarray]) -> np.ndarray:
        # Interleave classes as the permutation does, so an unshuffled pass is not class-sorted.
        pos = np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)
        return pos[np.argsort(rank[pos], kind="stable")].astype(np.int64)

    m, v = meta_per_class, val_per_class
    return SplitPositions(
        meta=in_perm_order([pos[:m] for pos in per_class]),
        val=in_perm_order([pos[m : m + v] for pos in per_class]),
        train=in_perm_order([pos[need : need + k] for pos, k in zip(per_class, take, strict=True)]),
        target_counts=target,
        available=available,
        n_max=int(n_max),
    )
