"""``stage``: a slow step is announced, ticks and tells its duration; a quick one or an error adds nothing."""

from __future__ import annotations

import io
import threading

import pytest

from lpg_meta import stage as stage_mod
from lpg_meta.stage import is_progress, stage


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def wait_for(stream: io.StringIO, text: str) -> bool:
    """Poll until ``text`` is written (no fixed sleep: no assumption on the machine's speed)."""
    for _ in range(1000):
        if text in stream.getvalue():
            return True
        threading.Event().wait(0.01)
    return False


def test_a_slow_stage_in_a_log_gets_a_start_line_ticks_and_its_duration(monkeypatch) -> None:
    monkeypatch.setattr(stage_mod, "QUIET_S", 0.01)
    monkeypatch.setattr(stage_mod, "TICK_LOG_S", 0.01)
    log = io.StringIO()
    with stage("plots", log):
        assert wait_for(log, "so far")
    lines = log.getvalue().splitlines()
    assert lines[0] == "lpg-meta: plots ..." and lines[-1].startswith("lpg-meta: plots done in ")
    assert all(is_progress(line) for line in lines)


def test_a_quick_stage_or_an_error_adds_nothing_to_a_log() -> None:
    log = io.StringIO()
    with stage("tables", log):
        pass
    with pytest.raises(ValueError), stage("theory", log):
        raise ValueError("boom")
    assert log.getvalue() == ""


def test_a_terminal_counts_in_place_and_keeps_the_duration_of_a_slow_stage(monkeypatch) -> None:
    monkeypatch.setattr(stage_mod, "QUIET_S", 0.0)
    monkeypatch.setattr(stage_mod, "TICK_TTY_S", 0.01)
    term = Terminal()
    with stage("claims", term):
        assert wait_for(term, "claims ... 0s")
    text = term.getvalue()
    assert text.startswith("lpg-meta: claims ...") and "\r\033[Klpg-meta: claims done in " in text
    assert text.count("\n") == 1  # one line, rewritten in place


def test_an_error_on_a_terminal_erases_the_line() -> None:
    term = Terminal()
    with pytest.raises(KeyError), stage("loading", term):
        raise KeyError("x")
    assert term.getvalue().endswith("\r\033[K") and "\n" not in term.getvalue()


def test_is_progress() -> None:
    assert is_progress("lpg-meta: loading torch and the registries done in 3.2s")
    assert not is_progress("lpg-meta: error: unknown method 'lpgg'")
