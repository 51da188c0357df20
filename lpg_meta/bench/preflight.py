"""Checks run before a suite writes anything: output folder, storage, earlier results, data.

``lpg-meta run`` calls ``preflight`` after the suite is validated and before any folder, journal,
study or result is created, so a wrong path or URL fails in a second with a ``UserError`` that
names the key (``output``, ``storage`` or ``--storage``, ``datasets.ROW.data.root``) and the
fix, instead of after the first hours of training or with a traceback. Nothing is left
behind: a folder's writability is asked of the operating system (``os.access``) and confirmed
with a file that is removed at once; databases are only connected to, never created.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

from lpg_meta.bench.storage import normalise_url
from lpg_meta.errors import UserError
from lpg_meta.results import RESULT_NAME, writable_folder

DIALECTS = ("sqlite", "postgresql", "mysql")
CONNECT_TIMEOUT_S = 5  # a database that does not answer within this is reported, not waited on
STORAGE_FIX = "use sqlite:///FILE.db, postgresql://USER@HOST/DB or a journal file path"


def preflight(plan: Any, storage_flag: str | None = None, dry_run: bool = False) -> None:
    """Raise ``UserError`` for the first problem that would stop ``plan`` once running.

    Args:
        plan: a ``runner.Plan`` (``suite``, ``cells``, ``output``, ``storage``).
        storage_flag: the ``--storage`` given on the command line, if any (names the key).
        dry_run: only the read-only checks (storage, earlier results): a dry run writes nothing
            and lists cells whose data is not on disk yet.
    """
    suite = plan.suite
    in_suite = f"{suite.path}: "  # keys of the suite file are named with the file, as load_suite does
    if not dry_run:
        writable_folder(Path(plan.output), "output", prefix=in_suite)
    if storage_flag:
        key, prefix = "--storage", ""
    elif suite.storage:
        key, prefix = "storage", in_suite
    else:
        key, prefix = "output", in_suite  # the default journal lies in the output folder
    check_storage(str(plan.storage), key, prefix, dry_run)
    check_results(Path(plan.output))
    if not dry_run:
        check_data(plan, in_suite)


def check_storage(spec: str, key: str, prefix: str = "", dry_run: bool = False) -> None:
    """Raise ``UserError`` unless ``spec`` is a reachable database URL or a writable journal path."""
    where = f"{prefix}{key}"
    if "://" not in spec:
        path = Path(spec).expanduser()
        if path.is_dir():
            raise UserError(f"{where}: the journal {path} is a folder; name a file, e.g. {path / 'optuna.journal'}.")
        if not dry_run:  # a dry run only reads the journal, if it exists
            writable_folder(path.parent, key, prefix)
            if path.exists() and not os.access(path, os.R_OK | os.W_OK):
                raise UserError(f"{where}: the journal {path} is not writable; fix its permissions or {STORAGE_FIX}.")
        return
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(spec)
    except ArgumentError:
        raise UserError(f"{where}: {spec!r} is not a database URL; {STORAGE_FIX}.") from None
    backend = url.get_backend_name()
    if backend not in DIALECTS:
        hint = " (write postgresql://)" if backend == "postgres" else ""
        raise UserError(f"{where}: unknown database {backend!r} in {spec!r}{hint}; {STORAGE_FIX}.")
    if backend == "sqlite":
        _check_sqlite(url.database, where, key, prefix, dry_run)
        return
    _connect(normalise_url(spec), url.render_as_string(hide_password=True), where)


def _check_sqlite(database: str | None, where: str, key: str, prefix: str, dry_run: bool) -> None:
    # Connecting would create the file, so only the folder is checked, and an existing file is
    # opened read-only: SQLite does not create missing folders, and a non-database file fails late.
    if not database or database == ":memory:" or database.startswith("file:"):
        raise UserError(f"{where}: an in-memory SQLite database is lost when the run ends and cannot be "
                        "shared by workers; name a file, e.g. sqlite:///results/optuna.db.")
    path = Path(database).expanduser()
    if not dry_run:
        writable_folder(path.parent, key, prefix)
    if path.is_file():
        try:
            with sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=CONNECT_TIMEOUT_S) as conn:
                conn.execute("PRAGMA schema_version").fetchone()
        except sqlite3.DatabaseError as err:
            raise UserError(f"{where}: {path} is not a usable SQLite database ({err}); "
                            "name another file, or delete this one to start over.") from None
    elif path.exists():
        raise UserError(f"{where}: {path} is not a file; name a database file, e.g. {path / 'optuna.db'}.")


def _connect(url: str, shown: str, where: str) -> None:
    """Open and close one connection (nothing is created), with a short timeout."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    try:
        engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": CONNECT_TIMEOUT_S})
    except ImportError as err:  # the dialect's driver module
        raise UserError(f"{where}: no database driver for {shown} ({err}); install it (pip install "
                        f"psycopg2-binary for postgresql, pymysql for mysql+pymysql://) or {STORAGE_FIX}.") from None
    try:
        with engine.connect():
            pass
    except Exception as err:  # noqa: BLE001 - every driver has its own errors: refused, auth, unknown DB
        reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
        raise UserError(f"{where}: cannot connect to {shown} ({reason}); check that the server runs and the "
                        f"host, port, user and database are right, or {STORAGE_FIX}.") from None
    finally:
        engine.dispose()


def check_results(output: Path) -> None:
    """Raise ``UserError`` for the first ``result.json`` under ``output`` that is not a result object.

    The runner would silently retrain such a run, and the tables at the end would stop on it.
    """
    if not output.is_dir():
        return
    for path in sorted(output.rglob(RESULT_NAME)):
        try:
            data = json.loads(path.read_text())
            problem = None if isinstance(data, dict) and "status" in data else "not a result object"
        except (OSError, UnicodeDecodeError, ValueError) as err:
            problem = str(err)
        if problem is not None:
            raise UserError(f"{path} is corrupt ({problem}); delete it (its run is then trained again) "
                            "or restore it, and rerun.")


def check_data(plan: Any, prefix: str = "") -> None:
    """Raise ``UserError`` when a dataset row of ``plan`` reads a data folder that is not there."""
    seen: set[str] = set()
    for cell in plan.cells:
        if cell.dataset in seen:
            continue
        seen.add(cell.dataset)
        cfg = cell.config(plan.suite.seeds[0])
        try:
            data_present(cfg["dataset"], cfg["data"], f"datasets.{cell.dataset}.data")
        except UserError as err:
            raise UserError(f"{prefix}{err}") from None


def data_present(name: str, params: dict[str, Any], where: str = "data") -> None:
    """Raise ``UserError`` naming ``WHERE.root`` when data set ``name`` is not on disk.

    Each source says what it needs (``Source.check_files``); generated or bundled data pass.
    """
    from lpg_meta.data import DATASETS

    DATASETS.get(name).check_files(params, where)
