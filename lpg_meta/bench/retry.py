"""Database storages that ride out a dropped connection or a server restart.

A cluster's database restarts for maintenance or fails over; a worker should not die for it.
``RetryingRDBStorage`` is Optuna's ``RDBStorage`` whose every database call is retried, with
backoff and fresh connections, while the database is unreachable, for up to ``retry_limit()``
seconds (``LPG_STORAGE_RETRY_S``, ``lpg-meta run --storage-retry``); training goes on meanwhile
(only storage calls wait). Past the limit the call raises ``StorageUnavailableError``, one line
saying what happened and how to resume.

Only connection errors are retried (the server gone, a connection reset, a session left to
roll back after one): each call is one transaction, rolled back when its connection died, so a
retried call writes once. A commit whose reply was lost is the exception; the runner's pop
(``units.take``) already gives up a duplicate copy of a unit.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import optuna

from lpg_meta.errors import UserError

RETRY_ENV = "LPG_STORAGE_RETRY_S"
DEFAULT_RETRY_S = 300.0  # a restart or failover of a managed database takes seconds to a few minutes
FIRST_WAIT_S, MAX_WAIT_S = 0.5, 10.0  # the backoff: doubling from the first wait, capped

# The RDBStorage methods that open a database session (those _CachedStorage and Optuna call).
RETRIED = (
    "create_new_study", "delete_study", "set_study_user_attr", "set_study_system_attr",
    "get_study_id_from_name", "get_study_name_from_id", "get_study_directions", "get_study_user_attrs",
    "get_study_system_attrs", "get_trial_user_attrs", "get_trial_system_attrs", "get_all_studies",
    "create_new_trial", "_create_new_trial", "set_trial_param", "_set_trial_param", "get_trial_param",
    "set_trial_state_values", "set_trial_intermediate_value", "set_trial_user_attr", "set_trial_system_attr",
    "get_trial_id_from_study_id_trial_number", "get_trial", "get_all_trials", "_get_trials", "get_best_trial",
    "_get_best_trial_id", "record_heartbeat", "_get_stale_trial_ids",
)

F = TypeVar("F", bound=Callable[..., Any])


class StorageUnavailableError(UserError):
    """The storage stayed unreachable past the retry limit (reported in one line, no traceback)."""


def retry_limit() -> float:
    """Seconds a storage call keeps retrying: ``$LPG_STORAGE_RETRY_S``, else ``DEFAULT_RETRY_S``."""
    text = os.environ.get(RETRY_ENV, "")
    try:
        value = float(text) if text else DEFAULT_RETRY_S
    except ValueError:
        raise UserError(f"{RETRY_ENV}={text!r} must be a number of seconds, e.g. 300.") from None
    if value < 0:
        raise UserError(f"{RETRY_ENV}={text!r} must be >= 0 seconds.")
    return value


def is_connection_error(err: BaseException) -> bool:
    """Whether ``err`` (or an error it was raised from) says the database connection is gone."""
    from sqlalchemy import exc

    seen: set[int] = set()
    cause: BaseException | None = err
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, exc.OperationalError | exc.InterfaceError | exc.PendingRollbackError
                      | exc.DisconnectionError):
            return True
        if isinstance(cause, exc.DBAPIError) and cause.connection_invalidated:
            return True
        cause = cause.__cause__ or cause.__context__
    return False


_depth = threading.local()  # a retried method calling another: only the outermost call retries
_last_trouble = [float("-inf")]  # time.monotonic() of the last connection error seen in this process
_gave_up = [False]  # a call waited the whole limit in vain: the next ones (the unit's FAIL) do not wait again


def note_trouble() -> None:
    """Record that the database was just unreachable (a failed call or a missed heartbeat)."""
    _last_trouble[0] = time.monotonic()


def troubled_within(seconds: float) -> bool:
    """Whether this process saw the database unreachable in the last ``seconds``.

    Every worker's heartbeat stopped while the database was down: until each had time to beat
    again, a stale heartbeat says nothing about a worker's death.
    """
    return time.monotonic() - _last_trouble[0] < seconds


@contextmanager
def no_wait() -> Iterator[None]:
    """Storage calls in the block are tried once: a connection error is raised at once, not waited out."""
    before = getattr(_depth, "single", False)
    _depth.single = True
    try:
        yield
    finally:
        _depth.single = before


def single_attempt() -> None:
    """Storage calls from the current thread are not retried (a heartbeat thread: the next beat is its retry)."""
    _depth.single = True


def _retried(method: F) -> F:
    @functools.wraps(method)
    def call(self: RetryingRDBStorage, *args: Any, **kwargs: Any) -> Any:
        if getattr(_depth, "inside", False):
            return method(self, *args, **kwargs)
        deadline, wait, first_error = None, FIRST_WAIT_S, None
        single = getattr(_depth, "single", False)
        while True:
            _depth.inside = True
            try:
                value = method(self, *args, **kwargs)
                _gave_up[0] = False
                return value
            except Exception as err:
                if not is_connection_error(err):
                    raise
                note_trouble()
                if _gave_up[0] and not single:
                    raise StorageUnavailableError(self.unavailable(err)) from None
                if single:
                    self.reconnect()  # the thread's next call starts with a fresh session
                    raise
                now = time.monotonic()
                if deadline is None:
                    deadline, first_error = now + self.retry_s, err
                if now >= deadline:
                    _gave_up[0] = True
                    raise StorageUnavailableError(self.unavailable(first_error)) from None
                self.reconnect()
                time.sleep(min(wait, max(0.0, deadline - now)))
                wait = min(2 * wait, MAX_WAIT_S)
            finally:
                _depth.inside = False

    return call  # type: ignore[return-value]


class RetryingRDBStorage(optuna.storages.RDBStorage):
    """``RDBStorage`` whose database calls retry through a restart (see the module docstring)."""

    retry_s: float = DEFAULT_RETRY_S

    def reconnect(self) -> None:
        """Drop this thread's session and the pool's dead connections; the next call reconnects."""
        try:
            self.scoped_session.remove()
        except Exception:  # noqa: BLE001 - closing a dead connection may fail; it is discarded anyway
            pass
        self.engine.dispose()

    def unavailable(self, err: BaseException | None) -> str:
        first = str(err.__cause__ or err).strip().splitlines()[0] if err is not None else "?"
        return (f"the storage {self.engine.url.render_as_string(hide_password=True)} was unreachable for "
                f"{self.retry_s:g} s ({first}); finished units are kept: once the database is back, run the same "
                f"command again to resume (raise the wait with --storage-retry SECONDS).")


for _name in RETRIED:
    setattr(RetryingRDBStorage, _name, _retried(getattr(optuna.storages.RDBStorage, _name)))
