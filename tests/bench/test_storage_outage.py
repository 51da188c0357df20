"""A PostgreSQL storage that goes away mid-suite: workers wait for it, or stop in one line past the limit."""

import json
import os
import subprocess
import sys
import time

import pytest
from sqlalchemy import exc
from suite_kit import write_suite

from lpg_meta.bench import retry, run_suite

# ce alone on the tiny long-tail row: 4 seeds for 2 workers, a second or two a run.
SUITE = {
    "suite": "outage",
    "defaults": {"data": {"num_samples": 600}, "train": {"epochs": 3, "batch_size": 32}},
    "datasets": {"lt": {"source": "mnist1d", "imbalance": 3, "meta_per_class": 5}},
    "methods": {"ce": {}},
    "seeds": [0, 1, 2, 3],
}
RUNS = [f"lt/ce/seed{s}" for s in SUITE["seeds"]]


def metrics(out):
    return {run: json.loads((out / run / "result.json").read_text())["metrics"] for run in RUNS}


def start(path, url, retry_s):
    env = {**os.environ, retry.RETRY_ENV: str(retry_s)}
    return subprocess.Popen([sys.executable, "-m", "lpg_meta.cli", "run", str(path), "--workers", "2",
                             "--storage", url], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_training(out, timeout=120):
    """Block until some worker is inside a run (its log has an epoch line)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for log in out.glob("*/*/seed*/train.log"):
            if "epoch 1/" in log.read_text():
                return
        time.sleep(0.1)
    pytest.fail("no run started training")


def test_workers_ride_out_a_database_restart(postgres_server, tmp_path):
    reference = tmp_path / "reference"
    run_suite(write_suite(reference, SUITE))
    path = write_suite(tmp_path / "pg", SUITE)
    proc = start(path, postgres_server.url, retry_s=120)
    wait_for_training(tmp_path / "pg/out")
    postgres_server.stop()  # a restart that takes a few seconds: every connection drops
    time.sleep(3)
    postgres_server.start()
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, out + err
    assert "Traceback" not in err, err
    assert metrics(tmp_path / "pg/out") == metrics(reference / "out")


def test_a_database_down_past_the_limit_stops_in_one_line_and_a_rerun_finishes(postgres_server, tmp_path):
    path = write_suite(tmp_path / "pg", SUITE)
    proc = start(path, postgres_server.url, retry_s=2)
    wait_for_training(tmp_path / "pg/out")
    postgres_server.stop()
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 2, out + err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("lpg-meta: error:")]
    assert len(lines) == 1 and "unreachable for 2 s" in lines[0] and "run the same command again" in lines[0], err
    postgres_server.start()
    again = run_suite(path, storage=postgres_server.url)  # in-process: a second CLI start costs seconds
    assert [r["status"] for r in again["cells"][0]["runs"]] == ["ok"] * len(RUNS)
    assert all((tmp_path / "pg/out" / run / "result.json").exists() for run in RUNS)


def test_only_connection_errors_are_retried():
    lost = exc.OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))
    wrapped = RuntimeError("commit failed")
    wrapped.__cause__ = lost
    assert retry.is_connection_error(lost) and retry.is_connection_error(wrapped)
    assert not retry.is_connection_error(exc.IntegrityError("INSERT", {}, Exception("duplicate key")))
    assert not retry.is_connection_error(ValueError("bad value"))


@pytest.mark.parametrize("text", ["soon", "-1"])
def test_a_bad_retry_limit_is_a_user_error(monkeypatch, text):
    monkeypatch.setenv(retry.RETRY_ENV, text)
    with pytest.raises(retry.UserError, match=retry.RETRY_ENV):
        retry.retry_limit()


def test_a_negative_storage_retry_exits_2(tmp_path, capsys):
    from lpg_meta.cli import main

    assert main(["run", str(write_suite(tmp_path, SUITE)), "--storage-retry", "-1"]) == 2
    assert "--storage-retry must be >= 0 seconds" in capsys.readouterr().err


class FakeStorage:
    """What the retry loop needs of a storage: its limit, a reconnect, the one-line message."""

    retry_s = 0.3

    def __init__(self):
        self.reconnects = 0

    def reconnect(self):
        self.reconnects += 1

    def unavailable(self, err):
        return f"gone ({err.orig})"


def flaky(failures):
    """A storage method that loses its connection ``failures`` times, then answers."""
    calls = []

    def method(self):
        calls.append(1)
        if len(calls) <= failures:
            raise exc.OperationalError("SELECT", {}, Exception("connection refused"))
        return "answer"

    return retry._retried(method), calls


def test_a_call_is_retried_on_fresh_connections_until_the_database_answers(monkeypatch):
    monkeypatch.setattr(retry, "FIRST_WAIT_S", 0.01)
    call, calls = flaky(3)
    storage = FakeStorage()
    assert call(storage) == "answer" and len(calls) == 4 and storage.reconnects == 3


def test_past_the_limit_a_call_stops_and_the_next_ones_do_not_wait_again(monkeypatch):
    monkeypatch.setattr(retry, "FIRST_WAIT_S", 0.01)
    monkeypatch.setattr(retry, "_gave_up", [False])
    call, calls = flaky(10**6)
    with pytest.raises(retry.StorageUnavailableError, match="gone"):
        call(FakeStorage())
    tried = len(calls)
    assert tried > 3  # it kept trying for retry_s
    with pytest.raises(retry.StorageUnavailableError):
        call(FakeStorage())
    assert len(calls) == tried + 1  # the unit's FAIL after it: one try, no second wait
    answer, _ = flaky(0)
    assert answer(FakeStorage()) == "answer" and retry._gave_up == [False]  # back: calls wait again
