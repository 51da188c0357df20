"""Suite progress: an overall bar of units (trials and seeded runs) and per-run epoch bars.

On a terminal both are tqdm bars (the overall one on line 0, worker ``i``'s run on line
``i + 1``); elsewhere (CI, a log file) each finished unit prints one line with the count and
the estimated time left, and there are no per-run bars (each run has its own ``train.log``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from tqdm import tqdm


class Overall:
    """Counts units done of the total and shows the estimated time left."""

    def __init__(self, total: int, label: str, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.total, self.done, self.trials, self.runs = total, 0, 0, 0
        self.trained: set[tuple[str, int]] = set()
        self.skipped: set[tuple[str, int]] = set()
        self.start = time.perf_counter()
        self.bar = (tqdm(total=total, desc=label, unit="unit", file=self.stream, position=0, dynamic_ncols=True)
                    if self.stream.isatty() else None)

    def handle(self, event: dict[str, Any]) -> None:
        """Take one worker event: ``trial``, ``run`` or ``skip`` (a seeded run found already done)."""
        kind = event["kind"]
        if kind == "skip":
            key = (event["cell"], event["seed"])
            if key not in self.trained and key not in self.skipped:
                self.skipped.add(key)
                self.total -= 1  # it was counted as pending
                if self.bar is not None:
                    self.bar.total = self.total
                    self.bar.refresh()
            return
        if kind == "trial":
            self.trials += 1
            text = f"{event['cell']} trial {event['number']} {event['state'].lower()} {trial_value(event)}"
        elif kind == "run":
            self.runs += 1  # counted per event: a run trained twice would show here
            self.trained.add((event["cell"], event["seed"]))
            text = f"{event['cell']} seed {event['seed']} {event['status']}"
        else:
            return
        self.done += 1
        self.total = max(self.total, self.done)  # extra trials raced by parallel workers
        if self.bar is not None:
            self.bar.total = self.total
            self.bar.set_postfix_str(text, refresh=False)
            self.bar.update(1)
            return
        elapsed = time.perf_counter() - self.start
        left = elapsed / self.done * (self.total - self.done)
        print(f"[{self.done}/{self.total}] {text} ({event['seconds']:.1f}s; "
              f"elapsed {elapsed:.0f}s, about {left:.0f}s left)", file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def trial_value(event: dict[str, Any]) -> str:
    """A trial's validation figure as the run summaries show it: accuracies in percent."""
    metric, value = event.get("metric", "value"), event["value"]
    if value is None:
        return f"val {metric} -"
    return f"val {metric} {100 * value:.2f}%" if metric.endswith("accuracy") else f"val {metric} {value:.4f}"


@contextmanager
def epoch_bar(label: str, epochs: int, worker: int) -> Iterator[Any]:
    """Yield an ``on_epoch(epoch, val_metrics)`` callback that advances a bar on a terminal."""
    stream = sys.stderr  # taken before the caller redirects stderr into the run's log
    bar = (tqdm(total=epochs, desc=label, unit="epoch", file=stream, position=worker + 1, leave=False,
                dynamic_ncols=True) if stream.isatty() else None)

    def on_epoch(epoch: int, val: dict[str, Any]) -> None:
        if bar is not None:
            acc = val.get("balanced_accuracy")
            if acc is not None:
                bar.set_postfix_str(f"val bal. acc. {100 * acc:.2f}%", refresh=False)
            bar.update(1)

    try:
        yield on_epoch
    finally:
        if bar is not None:
            bar.close()
