"""Progress reporting: a bar on a terminal, plain log lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from tqdm import tqdm


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
        if self.mode != "log":
            return
        parts = " ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in stats.items())
        elapsed = time.perf_counter() - self.start
        print(f"[{self.label}] epoch {epoch + 1}/{epochs} {parts} ({elapsed:.1f}s)", file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
