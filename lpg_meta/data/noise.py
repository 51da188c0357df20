"""Label noise on the training split: the named kinds of docs/method.md §5 and their matrices."""

from __future__ import annotations

from typing import Any

import numpy as np

from lpg_meta.errors import UserError

# Patrini et al. 2017: truck->automobile, bird->airplane, cat<->dog, deer->horse.
CIFAR10_ASYM = {9: 1, 2: 0, 3: 5, 5: 3, 4: 7}


def cifar100_asym() -> dict[int, int]:
    """CIFAR-100 asym map: next label within blocks of 5 consecutive indices."""
    return {i: 5 * (i // 5) + (i % 5 + 1) % 5 for i in range(100)}


def parse_noise_map(raw: Any, num_classes: int) -> dict[int, int]:
    """Validate a user ``noise_map`` (YAML keys may arrive as strings) into ``{int: int}``."""
    out: dict[int, int] = {}
    for key, value in dict(raw).items():
        try:
            src, dst = int(key), int(value)
        except (TypeError, ValueError):
            raise UserError(
                f"data.noise_map entries must map a label to a label, got {key!r}: {value!r}."
            ) from None
        if not (0 <= src < num_classes and 0 <= dst < num_classes):
            raise UserError(
                f"data.noise_map entry {src}: {dst} is outside the labels 0..{num_classes - 1}."
            )
        out[src] = dst
    return out


def transition_matrix(
    kind: str, rate: float, num_classes: int, mapping: dict[int, int] | None = None
) -> np.ndarray:
    """The asked transition matrix T (T[i, j] = P(noisy j | clean i))."""
    k, p = num_classes, rate
    eye = np.eye(k)
    if kind == "none":
        return eye
    if kind == "sym_incl":
        return p / k * np.ones((k, k)) + (1 - p) * eye
    if kind == "sym_excl":
        if k < 2:
            raise UserError("data.noise=sym_excl needs at least two classes.")
        return p / (k - 1) * (1 - eye) + (1 - p) * eye
    t = eye.copy()
    if kind == "pair":
        targets = {i: (i + 1) % k for i in range(k)}
    elif kind == "asym":
        targets = mapping or {}
    else:
        raise ValueError(f"unknown noise kind {kind!r}")
    for src, dst in targets.items():
        if src != dst:
            t[src, src] -= p
            t[src, dst] += p
    return t


def corrupt_labels(
    y: np.ndarray,
    kind: str,
    rate: float,
    num_classes: int,
    rng: np.random.Generator,
    mapping: dict[int, int] | None = None,
) -> np.ndarray:
    """Return noisy copies of the clean labels ``y``, drawn as the kind defines them.

    Every sample is hit with probability ``rate``; a hit sample gets a uniform label over all
    classes (sym_incl, may stay the same), a uniform *other* label (sym_excl), its successor
    (pair) or its mapped label (asym; unmapped classes keep theirs).
    """
    y = np.asarray(y, dtype=np.int64)
    if kind == "none" or rate == 0.0:
        return y.copy()
    hit = rng.random(len(y)) < rate
    noisy = y.copy()
    if kind == "sym_incl":
        noisy[hit] = rng.integers(0, num_classes, size=int(hit.sum()))
    elif kind == "sym_excl":
        noisy[hit] = (y[hit] + rng.integers(1, num_classes, size=int(hit.sum()))) % num_classes
    elif kind == "pair":
        noisy[hit] = (y[hit] + 1) % num_classes
    elif kind == "asym":
        lookup = np.arange(num_classes)
        for src, dst in (mapping or {}).items():
            lookup[src] = dst
        noisy[hit] = lookup[y[hit]]
    else:
        raise ValueError(f"unknown noise kind {kind!r}")
    return noisy


def noise_record(
    kind: str,
    rate: float,
    clean: np.ndarray,
    noisy: np.ndarray,
    transition: np.ndarray,
    mapping: dict[int, int] | None = None,
) -> dict[str, Any]:
    """The ``bundle.noise`` entry: asked kind/rate, realised and expected flip rates, T."""
    n = max(len(clean), 1)
    expected = float(np.sum(1.0 - transition[clean, clean]) / n) if len(clean) else 0.0
    record: dict[str, Any] = {
        "kind": kind,
        "rate": float(rate),
        "realised_rate": float(np.mean(clean != noisy)) if len(clean) else 0.0,
        "expected_rate": expected,
        # Per true class: the share of its training samples whose label was flipped (null for
        # a class without samples); LPG's per-class perturbation is read against it.
        "per_class_rate": [
            float(np.mean(noisy[clean == c] != c)) if np.any(clean == c) else None
            for c in range(len(transition))
        ],
        # Per training label: the share of the samples labelled c whose true class is another (null
        # for a label no sample carries). A class-level perturbation is indexed by this label.
        "per_label_rate": [
            float(np.mean(clean[noisy == c] != c)) if np.any(noisy == c) else None
            for c in range(len(transition))
        ],
        "transition": transition.tolist(),
    }
    if kind == "asym":
        record["map"] = {int(k): int(v) for k, v in (mapping or {}).items()}
    return record
