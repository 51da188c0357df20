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


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """``postgresql://`` URL of a fresh database on a server started for this session."""
    if not (shutil.which("initdb") and shutil.which("pg_ctl")):
        _unavailable("initdb/pg_ctl not on PATH")
    try:
        import psycopg2
    except ImportError:
        _unavailable("psycopg2 is not installed")
    prefix: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root: use the postgres system user
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            _unavailable("running as root and no 'postgres' user exists")
        if not shutil.which("runuser"):
            _unavailable("running as root and runuser is missing")
        prefix = ["runuser", "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="lpg-pg-", dir="/tmp"))  # pytest's tmp is root-only
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    if prefix:
        for path in (root, sock):
            os.chown(path, user.pw_uid, user.pw_gid)
    port = _free_port()

    def pg(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=120)

    init = pg("initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync")
    if init.returncode:
        shutil.rmtree(root, ignore_errors=True)
        _unavailable(f"initdb failed: {init.stderr.strip()[-500:]}")
    start = pg("pg_ctl", "-D", str(data), "-l", str(root / "server.log"), "-w", "-o",
               f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
    if start.returncode:
        log = (root / "server.log").read_text() if (root / "server.log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"pg_ctl start failed: {start.stderr.strip()} {log[-1000:]}")
    try:
        conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
        conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
        with conn.cursor() as cur:
            cur.execute("CREATE DATABASE lpg")
        conn.close()
        yield f"postgresql://postgres@127.0.0.1:{port}/lpg"
    finally:
        pg("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)
