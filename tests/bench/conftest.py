"""A throwaway PostgreSQL server for the distributed-worker tests.

It needs ``initdb`` and ``pg_ctl`` on PATH and an unprivileged user to run them (PostgreSQL
refuses root): the current user, or the ``postgres`` system user through ``runuser`` when
the tests run as root. Where that is impossible the tests are skipped, unless
``LPG_REQUIRE_POSTGRES=1`` (CI), which makes the skip a failure.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


def _unavailable(reason: str) -> None:
    if os.environ.get("LPG_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"LPG_REQUIRE_POSTGRES=1 but PostgreSQL cannot run here: {reason}")
    pytest.skip(f"PostgreSQL not available: {reason}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    """A throwaway PostgreSQL server: its ``url`` (database ``lpg``), and ``stop``/``start``/``restart``."""

    def __init__(self) -> None:
        if not (shutil.which("initdb") and shutil.which("pg_ctl")):
            _unavailable("initdb/pg_ctl not on PATH")
        try:
            import psycopg2  # noqa: F401
        except ImportError:
            _unavailable("psycopg2 is not installed")
        self.prefix: list[str] = []
        user = None
        if os.geteuid() == 0:  # the server refuses to run as root: use the postgres system user
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                _unavailable("running as root and no 'postgres' user exists")
            if not shutil.which("runuser"):
                _unavailable("running as root and runuser is missing")
            self.prefix = ["runuser", "-u", "postgres", "--"]
        self.root = Path(tempfile.mkdtemp(prefix="lpg-pg-", dir="/tmp"))  # pytest's tmp is root-only
        self.data, sock = self.root / "data", self.root / "sock"
        sock.mkdir()
        if user is not None:
            for path in (self.root, sock):
                os.chown(path, user.pw_uid, user.pw_gid)
        self.port = _free_port()
        self.options = f"-p {self.port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off"
        init = self.pg("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        if init.returncode:
            shutil.rmtree(self.root, ignore_errors=True)
            _unavailable(f"initdb failed: {init.stderr.strip()[-500:]}")
        self.start()
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres")
        conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
        with conn.cursor() as cur:
            cur.execute("CREATE DATABASE lpg")
        conn.close()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/lpg"

    def pg(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*self.prefix, *args], capture_output=True, text=True, timeout=120)

    def _ctl(self, action: str, *extra: str) -> None:
        done = self.pg("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w", *extra, action)
        if done.returncode:
            log = (self.root / "server.log").read_text() if (self.root / "server.log").exists() else ""
            self.close()
            pytest.fail(f"pg_ctl {action} failed: {done.stderr.strip()} {log[-1000:]}")

    def start(self) -> None:
        self._ctl("start", "-o", self.options)

    def stop(self) -> None:
        self._ctl("stop", "-m", "fast")

    def restart(self) -> None:
        """What a maintenance restart does: every connection is dropped, then the server is back."""
        self._ctl("restart", "-m", "fast", "-o", self.options)

    def close(self) -> None:
        self.pg("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """``postgresql://`` URL of a fresh database on a server started for this session."""
    server = PostgresServer()
    try:
        yield server.url
    finally:
        server.close()


@pytest.fixture
def postgres_server() -> Iterator[PostgresServer]:
    """A server of the test's own, which the test may stop and restart."""
    server = PostgresServer()
    try:
        yield server
    finally:
        server.close()
