"""Progress reporting: a bar on a terminal, plain log lines otherwise.

Either way each finished epoch prints one line (train loss, validation and test accuracy and
balanced accuracy in percent, seconds elapsed since the run started); on a terminal it is
written above the step bar (``tqdm.write``), so the lines stay after the bar ends.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from tqdm import tqdm

# How each record key is shown: percent for the accuracies (as in the summaries), raw otherwise.
LABELS = {"train_loss": "train loss", "val_accuracy": "val acc.", "val_balanced_accuracy": "val bal. acc.",
          "test_accuracy": "test acc.", "test_balanced_accuracy": "test bal. acc."}


def epoch_line(label: str, epoch: int, epochs: int, stats: dict[str, Any], elapsed: float) -> str:
    """``[label] epoch 3/8 train loss 0.412, val acc. 81.20%, ... (4.1s elapsed)``."""
    parts = []
    for key, value in stats.items():
        name = LABELS.get(key, key.replace("_", " "))
        if value is None:
            parts.append(f"{name} -")
        elif key.endswith("accuracy") and isinstance(value, float):
            parts.append(f"{name} {100 * value:.2f}%")
        else:
            parts.append(f"{name} {value:.4f}" if isinstance(value, float) else f"{name} {value}")
    return f"[{label}] epoch {epoch + 1}/{epochs} {', '.join(parts)} ({elapsed:.1f}s elapsed)"


class Progress:
    """Reports steps and epoch summaries in the mode chosen by ``train.progress``."""

    def __init__(self, mode: str, total_steps: int, label: str, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        if mode == "auto":
            mode = "bar" if self.stream.isatty() else "log"
        self.mode = mode
        self.label = label
        self.start = time.perf_counter()
        self.bar = tqdm(total=total_steps, desc=label, file=self.stream, leave=False) if mode == "bar" else None

    def step(self, loss: float) -> None:
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{loss:.3f}", refresh=False)

    def epoch(self, epoch: int, epochs: int, stats: dict[str, Any]) -> None:
        if self.mode == "none":
            return
        line = epoch_line(self.label, epoch, epochs, stats, time.perf_counter() - self.start)
        if self.bar is not None:
            self.bar.write(line, file=self.stream)  # above the bar, kept when it closes
        else:
            print(line, file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
