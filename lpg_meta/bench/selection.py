"""Choosing between tuning trials: a score in validation images and a margin the winner must clear.

A trial's **score** is its validation metric averaged over its tuning seeds and the last
``tuning.last_epochs`` epochs of each, counted in validation images: the sum of
``metric x (validation images)`` over those measurements, rounded to a whole number (``units``),
over their number. For accuracy, error and balanced accuracy on a class-balanced validation
split, ``metric x images`` is a whole number of images, so the rounding only drops the last bits
of float arithmetic and equal predictions give equal scores on every machine.

The **choice**: the earliest trial (by first attempt; trial 0 runs the row's own values) whose
score is within ``tuning.margin`` validation images of the best score. A later trial therefore
replaces an earlier one only when it is better by more than ``margin`` images on average over the
measurements; a tie, or a lead of one image in a single epoch, keeps the earlier trial. No rule
with a threshold is free of a boundary, but this one moves only when many predictions move.
Scores are compared as exact fractions, never as floats.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True)
class Score:
    """A trial's summed validation measurements in images (``units``) over ``measurements`` of them."""

    units: int
    measurements: int

    @property
    def images(self) -> Fraction:
        """The mean over measurements, in validation images (exact)."""
        return Fraction(self.units, self.measurements)


def score(curves: Sequence[Sequence[float]], images: int, last_epochs: int) -> Score:
    """The score of one trial from its per-epoch validation metric, one curve per tuning seed.

    Args:
        curves: for each tuning seed, the metric after each epoch (a fraction, e.g. 0.87).
        images: the size of the validation split (the metric's resolution is one image of it).
        last_epochs: how many final epochs of each curve count (fewer if a curve is shorter).
    """
    if images < 1 or last_epochs < 1 or not curves or any(not c for c in curves):
        raise ValueError("a score needs at least one epoch of each seed, one image and one epoch to count")
    taken = [v for curve in curves for v in curve[-last_epochs:]]
    return Score(units=round(sum(v * images for v in taken)), measurements=len(taken))


def choose(scores: Sequence[Score], margin: float, maximize: bool = True) -> int:
    """Index of the chosen trial among ``scores``, listed earliest first (see the module docstring)."""
    if not scores:
        raise ValueError("no trial to choose from")
    values = [s.images if maximize else -s.images for s in scores]
    floor = max(values) - Fraction(margin)
    return next(i for i, v in enumerate(values) if v >= floor)
