"""Progress for the slow steps that have no bar: a line when a stage starts, one when it ends.

``with stage("plots"):`` prints ``lpg-meta: plots ...`` on stderr, then, while the stage runs,
its elapsed seconds every ``TICK_TTY_S`` on a terminal (rewriting the line) or every
``TICK_LOG_S`` in a log, and ``lpg-meta: plots done in 12.3s`` at the end, so a command is never
silent for long. Nothing goes to stdout, which stays the command's result.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

TICK_TTY_S = 1.0  # a terminal shows the elapsed seconds in place
TICK_LOG_S = 15.0  # a log file gets a line this often during a long stage


@contextmanager
def stage(name: str, stream: TextIO | None = None) -> Iterator[None]:
    """Announce ``name`` on ``stream`` (stderr), tick while it runs, and tell its duration."""
    stream = stream or sys.stderr
    tty = stream.isatty()
    started = time.perf_counter()
    stop = threading.Event()
    print(f"lpg-meta: {name} ...", file=stream, end="" if tty else "\n", flush=True)

    def tick() -> None:
        while not stop.wait(TICK_TTY_S if tty else TICK_LOG_S):
            elapsed = time.perf_counter() - started
            if tty:
                print(f"\rlpg-meta: {name} ... {elapsed:.0f}s\033[K", file=stream, end="", flush=True)
            else:
                print(f"lpg-meta: {name} ... {elapsed:.0f}s so far", file=stream, flush=True)

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    ok = False
    try:
        yield
        ok = True
    finally:
        stop.set()
        ticker.join()
        elapsed = time.perf_counter() - started
        end = "done" if ok else "stopped"
        line = f"lpg-meta: {name} {end} in {elapsed:.1f}s"
        print(f"\r{line}\033[K" if tty else line, file=stream, flush=True)
