"""Errors that are the user's to fix: the CLI prints them in one line and exits with code 2."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """A mistake in user input (a name, a setting, a path), reported without a traceback."""


def edit_distance(a: str, b: str) -> int:
    """Edits (insert, delete, substitute, swap two neighbours) that turn ``a`` into ``b``."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], prev2[j - 2] + 1)
        prev2, prev = prev, row
    return prev[-1]


def closest(name: str, choices: Iterable[str]) -> str:
    """Return a "did you mean" hint for ``name`` among ``choices``, or an empty string.

    Similar names are found by difflib; a tie between its best ones goes to the fewest edits, a
    swap of two letters counting as one (difflib alone ranks 'lpl' and 'lpg' equally close to 'lgp').
    """
    name = str(name)
    matches = difflib.get_close_matches(name, list(choices), n=5, cutoff=0.5)
    if not matches:
        return ""
    ratio = {m: difflib.SequenceMatcher(None, name, m).ratio() for m in matches}
    tied = [m for m in matches if ratio[m] == ratio[matches[0]]]
    best = min(tied, key=lambda m: edit_distance(name, m))  # min keeps difflib's order on ties
    return f" Did you mean '{best}'?"


class TrainingDivergedError(RuntimeError):
    """The training loss became NaN or infinite."""

    def __init__(self, epoch: int, step: int, loss: float) -> None:
        super().__init__(f"training diverged at epoch {epoch + 1}, step {step}: loss = {loss}")
        self.epoch, self.step, self.loss = epoch, step, loss
