"""Progress for the slow steps that have no bar: what runs, while it runs, and how long it took.

``with stage("plots"):`` on a terminal shows ``lpg-meta: plots ... 3s`` in place, counting every
``TICK_TTY_S``, and leaves ``lpg-meta: plots done in 12.3s``; a stage over within ``QUIET_S``
leaves nothing. In a log (not a terminal) a stage that lasts ``QUIET_S`` prints
``lpg-meta: plots ...``, then a line every ``TICK_LOG_S`` and the duration at the end; a quick
one prints nothing. A stage ended by an error adds nothing (the terminal's line is erased), so a
user's mistake stays the one line the command line prints. Everything goes to stderr: stdout
stays the command's result.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

QUIET_S = 1.0  # a stage shorter than this is not worth a line
TICK_TTY_S = 1.0  # a terminal shows the elapsed seconds in place
TICK_LOG_S = 15.0  # a log gets a line this often during a long stage
PREFIX = "lpg-meta: "
ERASE = "\r\033[K"


def is_progress(line: str) -> bool:
    """Whether ``line`` is one of a stage's lines (what a caller reading stderr for errors may skip)."""
    return line.startswith(PREFIX) and (line.endswith(" ...") or " so far" in line or " done in " in line)


@contextmanager
def stage(name: str, stream: TextIO | None = None) -> Iterator[None]:
    """Show ``name`` on ``stream`` (stderr) while the block runs, and its duration when it ends."""
    stream = stream or sys.stderr
    tty = stream.isatty()
    started = time.perf_counter()
    stop, lock = threading.Event(), threading.Lock()
    shown = [False]  # whether a line about this stage is on screen or in the log

    def tick() -> None:
        wait = TICK_TTY_S if tty else QUIET_S
        while not stop.wait(wait):
            with lock:
                if stop.is_set():
                    return
                elapsed = time.perf_counter() - started
                if tty:
                    print(f"{ERASE}{PREFIX}{name} ... {elapsed:.0f}s", file=stream, end="", flush=True)
                else:
                    print(f"{PREFIX}{name} ..." if not shown[0] else f"{PREFIX}{name} ... {elapsed:.0f}s so far",
                          file=stream, flush=True)
                    wait = TICK_LOG_S
                shown[0] = True

    if tty:
        print(f"{PREFIX}{name} ...", file=stream, end="", flush=True)
        shown[0] = True
    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    ok = False
    try:
        yield
        ok = True
    finally:
        with lock:
            stop.set()
        ticker.join()
        elapsed = time.perf_counter() - started
        done = f"{PREFIX}{name} done in {elapsed:.1f}s"
        if tty:
            print(f"{ERASE}{done}" if ok and elapsed >= QUIET_S else ERASE, file=stream,
                  end="\n" if ok and elapsed >= QUIET_S else "", flush=True)
        elif ok and shown[0]:
            print(done, file=stream, flush=True)
