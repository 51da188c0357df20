"""The Optuna storage every worker coordinates through, and how dead workers are found.

A database URL (``postgresql://``, ``sqlite:///``, ...) opens an ``RDBStorage`` with Optuna's
heartbeat: each running unit records a heartbeat from a daemon thread, and a unit whose
heartbeat stops (its worker was killed, on any machine) is failed by ``fail_stale_trials`` and
enqueued again by ``RetryHeartbeatStaleTrialCallback``. Anything else is a journal file
(``JournalFileBackend``), which has no heartbeat in Optuna 5.0: there a running unit renews a
lease in the journal itself (user attribute ``alive_at``, every ``HEARTBEAT_S``), so a worker on
any host sharing the file fails a unit whose lease is ``GRACE_S`` old and enqueues it again.
As a faster check for any storage, a unit records its worker's pid and host, and a worker on
the same host fails the unit of a pid that no longer exists at once.

A database's calls wait out a dropped connection or a restart (``retry.RetryingRDBStorage``, up
to ``retry.retry_limit()``); for ``GRACE_S`` after this process saw the database unreachable, no
unit is failed for a stale heartbeat, since every worker's beats stopped with it.

Optuna internals used here (``Study._storage``, ``Trial._trial_id``; Optuna has no public way
to reach a trial's storage or id) are checked by ``tests/bench/test_optuna_internals.py``, and
pyproject.toml caps Optuna at the tested minor version.
"""

from __future__ import annotations

import datetime
import os
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from lpg_meta.bench import retry
from lpg_meta.errors import UserError

HEARTBEAT_S = 10  # how often a running unit says it is alive (RDB heartbeat, journal lease)
GRACE_S = 60  # a unit silent for this long is failed and retried (hosts' clocks may differ by less)
MAX_RETRY = 5  # heartbeat retries of one unit; a unit that keeps killing its worker stops
OWNERLESS_S = 120  # a RUNNING unit whose worker died before recording its pid, after this long
CREATE_ATTEMPTS = 5
URL_SCHEMES = ("postgresql", "postgres", "sqlite", "mysql")
HOST = socket.gethostname()


def open_storage(spec: str) -> Any:
    """The storage named by ``spec``: a database URL, or else a journal file path."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the runner reports units itself
    return _rdb(spec) if "://" in spec else _journal(spec)


class RunStore:
    """The storage one run coordinates through, opened once, and the studies it loaded from it.

    A run (``run_suite``, each of its worker processes, a dry run) makes its own, so it starts
    from what the storage holds and nothing outlives it; loading a study again on every scan
    of the cells would cost a round trip to the database for nothing.
    """

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.studies: dict[str, optuna.Study] = {}  # by study name
        self._storage: Any = None

    @property
    def storage(self) -> Any:
        """The opened storage (opened at first use)."""
        if self._storage is None:
            self._storage = open_storage(self.spec)
        return self._storage


def _journal(spec: str) -> Any:
    from optuna.storages.journal import JournalFileBackend

    Path(spec).parent.mkdir(parents=True, exist_ok=True)
    # Every write is an append under the file's lock and every read replays the log, so a
    # WAITING -> RUNNING pop is won by exactly one process (also on a shared file system
    # with working locks).
    return optuna.storages.JournalStorage(JournalFileBackend(spec))


def _rdb(url: str) -> Any:
    scheme = url.split("://", 1)[0].split("+", 1)[0].lower()
    if scheme not in URL_SCHEMES:
        raise UserError(f"--storage {url!r}: unknown database scheme {scheme!r}; use postgresql://USER@HOST/DB, "
                        "sqlite:///PATH.db or a journal file path.")
    url = normalise_url(url)
    sqlite = scheme == "sqlite"
    kwargs = {"connect_args": {"timeout": 120}} if sqlite else {"pool_pre_ping": True}
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    for attempt in range(CREATE_ATTEMPTS):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                storage = retry.RetryingRDBStorage(
                    url, engine_kwargs=kwargs, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S,
                    heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(MAX_RETRY))
            storage.retry_s = retry.retry_limit()
            break
        except (IntegrityError, ProgrammingError):
            # Workers that start together on an empty database race to create Optuna's tables
            # (duplicate key / table already exists): the loser tries again once they exist.
            if attempt == CREATE_ATTEMPTS - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
        except ModuleNotFoundError as err:
            raise UserError(f"--storage {url!r}: the database driver is missing ({err}); "
                            "pip install psycopg2-binary for postgresql://.") from None
        except Exception as err:  # sqlalchemy's errors: bad URL, server down, wrong password
            raise UserError(f"--storage {url!r}: cannot open the database: {str(err).splitlines()[0]}") from None
    if sqlite:
        _serialize_sqlite(storage)
    return storage


def normalise_url(url: str) -> str:
    """The URL to open: a bare ``postgresql://`` (or ``postgres://``) means psycopg2.

    SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3; the project ships psycopg2-binary.
    """
    scheme, _, rest = url.partition("://")
    return f"postgresql+psycopg2://{rest}" if scheme.lower() in ("postgresql", "postgres") else url


def _serialize_sqlite(storage: Any) -> None:
    """Make every SQLite transaction ``BEGIN IMMEDIATE``.

    pysqlite opens a transaction only at the first write, so two processes can both read a
    trial as WAITING and both set it RUNNING: both would train the same unit. Taking the
    write lock at the start of each transaction makes the pop's read-check-write atomic.
    """
    from sqlalchemy import event

    engine = storage.engine

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver's own BEGIN would be deferred

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # connections opened before the hooks would keep the deferred BEGIN


def ask(study: optuna.Study) -> optuna.Trial:
    """``study.ask()`` (a WAITING trial if there is one, else a new one), claimed by this process."""
    with warnings.catch_warnings():
        # Optuna warns that heartbeats are meant for ``optimize``; ``heartbeat`` below does its job.
        warnings.simplefilter("ignore", UserWarning)
        trial = study.ask()
    claim(trial)
    return trial


def claim(trial: optuna.Trial) -> None:
    """Record that this process owns ``trial`` (right after ``ask``): pid, host, first heartbeat."""
    storage = trial.study._storage  # noqa: SLF001 - the heartbeat API lives on the storage
    if _heartbeat_enabled(storage):
        storage.record_heartbeat(trial._trial_id)  # noqa: SLF001 - a trial without one is never stale
    else:
        renew_lease(trial)
    trial.set_user_attr("pid", os.getpid())
    trial.set_user_attr("host", HOST)


def renew_lease(trial: optuna.Trial) -> None:
    """Record in the storage that ``trial``'s worker is alive now (storages without a heartbeat)."""
    trial.set_user_attr("alive_at", time.time())


def _heartbeat_enabled(storage: Any) -> bool:
    # The public methods of Optuna's heartbeat storages (RDBStorage and its cache wrapper).
    interval = getattr(storage, "get_heartbeat_interval", None)
    return callable(interval) and interval() is not None


@contextmanager
def heartbeat(trial: optuna.Trial) -> Iterator[None]:
    """While the block runs, record the trial's heartbeat (RDB) or renew its lease (journal)
    every ``HEARTBEAT_S``.

    ``Study.optimize`` beats itself on RDB storages; ask/tell does not, so without it a long unit
    would look dead to the other workers.
    """
    storage = trial.study._storage  # noqa: SLF001
    stop = threading.Event()
    trial_id = trial._trial_id  # noqa: SLF001
    if _heartbeat_enabled(storage):
        interval, record = storage.get_heartbeat_interval(), lambda: storage.record_heartbeat(trial_id)
    else:
        interval, record = HEARTBEAT_S, lambda: renew_lease(trial)

    def beat() -> None:
        retry.single_attempt()  # a missed beat is retried by the next one, not held up
        while not stop.wait(interval):
            try:
                record()
            except Exception:  # noqa: BLE001 - a missed beat is retried; the unit goes on
                pass

    thread = threading.Thread(target=beat, name=f"heartbeat-{trial_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def pid_alive(pid: int) -> bool:
    """Whether a local process ``pid`` exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _dead(trial: optuna.trial.FrozenTrial) -> bool:
    pid, host = trial.user_attrs.get("pid"), trial.user_attrs.get("host")
    if pid is None:
        started = trial.datetime_start or datetime.datetime.now()
        return (datetime.datetime.now() - started).total_seconds() > OWNERLESS_S
    if pid == os.getpid():
        return False
    if host not in (None, HOST):  # another machine's pid means nothing here
        alive_at = trial.user_attrs.get("alive_at")  # set on storages without a heartbeat
        return alive_at is not None and time.time() - alive_at > GRACE_S  # else the heartbeat decides
    return not pid_alive(pid)


def origin(trial: optuna.trial.FrozenTrial) -> int:
    """The number of the trial that ``trial`` retries (through any chain of retries), else its own."""
    return trial.user_attrs.get("retry_of", trial.system_attrs.get("failed_trial", trial.number))


def fail_stale(study: optuna.Study) -> int:
    """Fail the RUNNING units of dead workers and enqueue each again; return how many.

    The heartbeat check (RDB) enqueues its retries through the storage's callback; the pid
    check enqueues them here with the same parameters and seed. Only the process whose FAIL
    write wins enqueues, so a unit is retried once.
    """
    if not retry.troubled_within(GRACE_S):  # else live workers' beats may be stale from an outage
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
    storage = study._storage  # noqa: SLF001
    stale = 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not _dead(trial):
            continue
        try:
            if not storage.set_trial_state_values(trial._trial_id, TrialState.FAIL):  # noqa: SLF001
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another worker got there first
        stale += 1
        params = {**trial.system_attrs.get("fixed_params", {}), **trial.params}
        keep = {k: v for k, v in trial.user_attrs.items() if k == "seed"}
        study.enqueue_trial(params, user_attrs={**keep, "retry_of": origin(trial)})
    return stale
