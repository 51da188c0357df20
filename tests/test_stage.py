"""``stage``: a slow step is announced, ticks while it runs and tells its duration."""

from __future__ import annotations

import io
import threading

import pytest

from lpg_meta import stage as stage_mod
from lpg_meta.stage import stage


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_a_start_line_ticks_and_the_duration(monkeypatch) -> None:
    monkeypatch.setattr(stage_mod, "TICK_LOG_S", 0.01)
    log = io.StringIO()
    ticked = threading.Event()
    with stage("plots", log):
        # Wait for a tick instead of sleeping a fixed time: no assumption on the machine's speed.
        for _ in range(500):
            if "so far" in log.getvalue():
                ticked.set()
                break
            threading.Event().wait(0.01)
    lines = log.getvalue().splitlines()
    assert ticked.is_set()
    assert lines[0] == "lpg-meta: plots ..." and lines[-1].startswith("lpg-meta: plots done in ")
    assert lines[-1].endswith("s")


def test_a_terminal_rewrites_one_line() -> None:
    term = Terminal()
    with stage("claims", term):
        pass
    text = term.getvalue()
    assert text.startswith("lpg-meta: claims ...") and "\rlpg-meta: claims done in " in text
    assert text.count("\n") == 1  # one line, rewritten in place


def test_an_error_is_told_and_raised() -> None:
    log = io.StringIO()
    with pytest.raises(ValueError), stage("theory", log):
        raise ValueError("boom")
    assert "lpg-meta: theory stopped in " in log.getvalue()
