"""Classification metrics of docs/method.md §6, as JSON-ready fractions in [0, 1].

Accuracy, error, balanced accuracy, per-class accuracy (recall), many / medium / few-shot
accuracy, NLL and ECE. Every rate is a fraction, not a percentage. Values that are
undefined (a class absent from the evaluated labels, an empty shot group, a non-finite
NLL) are ``None`` so that the result serialises to strict JSON (``null``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from lpg_meta.results import shot_groups


def _num(value: float) -> float | None:
    """A plain float, or None where it is NaN or infinite (strict JSON has neither)."""
    value = float(value)
    return value if math.isfinite(value) else None


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def expected_calibration_error(probs: torch.Tensor, y: torch.Tensor, bins: int = 15) -> float:
    """ECE with ``bins`` equal-width confidence bins (Guo et al. 2017).

    Bin ``b`` holds the samples whose top-1 confidence lies in ``(b/bins, (b+1)/bins]``;
    the result is ``sum_b |acc_b - conf_b| * n_b / n``, so bins weigh by their size and
    empty bins count for nothing.
    """
    conf, pred = probs.max(dim=1)
    correct = (pred == y).to(probs.dtype)
    # bucketize(right=False) puts x in bin i where edge[i-1] < x <= edge[i]: right-closed bins.
    inner_edges = torch.linspace(0.0, 1.0, bins + 1, dtype=probs.dtype, device=probs.device)[1:-1]
    which = torch.bucketize(conf, inner_edges, right=False)
    n = float(conf.numel())
    total = 0.0
    for b in range(bins):
        mask = which == b
        count = int(mask.sum())
        if count:
            gap = (correct[mask].mean() - conf[mask].mean()).abs().item()
            total += gap * count / n
    return total


def classification_metrics(
    logits: torch.Tensor,
    y: torch.Tensor,
    num_classes: int,
    train_counts: list[int] | None = None,
    many_threshold: int = 100,
    few_threshold: int = 20,
    ece_bins: int = 15,
) -> dict[str, Any]:
    """Top-1 metrics of ``logits`` (N, C) against integer labels ``y`` (N,).

    Args:
        logits: unnormalised scores, one row per sample.
        y: true labels in ``[0, num_classes)``.
        num_classes: C; ``per_class`` has this many entries.
        train_counts: training samples per class; adds ``many_shot``, ``medium_shot``
            and ``few_shot`` (mean per-class accuracy over classes with count
            ``> many_threshold``, within ``[few_threshold, many_threshold]``, ``< few_threshold``).
        many_threshold: see ``train_counts``.
        few_threshold: see ``train_counts``.
        ece_bins: number of equal-width confidence bins of the ECE.

    Returns:
        ``num_samples``, ``accuracy``, ``error``, ``balanced_accuracy`` (mean recall over
        the classes present in ``y``), ``per_class`` (recall per class, None if absent),
        ``nll`` (mean cross-entropy, natural log) and ``ece``, plus the shot groups when
        ``train_counts`` is given (None for a group with no class present in ``y``).
    """
    if logits.ndim != 2 or logits.shape[1] != num_classes:
        raise ValueError(f"logits must be (N, {num_classes}), got {tuple(logits.shape)}")
    y = y.reshape(-1).long().to(logits.device)
    if y.numel() != logits.shape[0]:
        raise ValueError(f"{logits.shape[0]} logits rows but {y.numel()} labels")
    if y.numel() == 0:
        raise ValueError("no samples to evaluate")
    if int(y.min()) < 0 or int(y.max()) >= num_classes:
        raise ValueError(f"labels must lie in [0, {num_classes})")
    # Float64 so that NLL and ECE do not depend on the training precision.
    logits = logits.detach().double()
    log_probs = F.log_softmax(logits, dim=1)
    pred = logits.argmax(dim=1)  # ties go to the lowest class index
    correct = (pred == y).double()

    support = torch.bincount(y, minlength=num_classes)
    hits = torch.bincount(y, weights=correct, minlength=num_classes)
    per_class = [
        float(hits[c]) / int(support[c]) if int(support[c]) > 0 else None
        for c in range(num_classes)
    ]
    present = [r for r in per_class if r is not None]
    accuracy = float(correct.mean())
    out: dict[str, Any] = {
        "num_samples": int(y.numel()),
        "accuracy": accuracy,
        "error": 1.0 - accuracy,
        "balanced_accuracy": _mean(present),
        "per_class": per_class,
        "nll": _num(F.nll_loss(log_probs, y).item()),
        "ece": _num(expected_calibration_error(log_probs.exp(), y, ece_bins)),
    }
    if train_counts is not None:
        if len(train_counts) != num_classes:
            raise ValueError(
                f"train_counts has {len(train_counts)} entries, expected {num_classes}"
            )
        for group, classes in shot_groups(train_counts, many_threshold, few_threshold).items():
            out[group] = _mean([per_class[c] for c in classes if per_class[c] is not None])
    return out
