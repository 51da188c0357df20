"""The Optuna internals lpg_meta.bench.storage relies on, checked loudly, and the journal
lease that lets workers on several hosts share one journal file without waiting forever.

Optuna has no public way to reach a trial's storage or id, so ``storage.py`` uses
``Study._storage`` and ``Trial._trial_id``; the retry bookkeeping reads the ``fixed_params``
system attribute of an enqueued trial and ``failed_trial`` of a heartbeat retry. If an Optuna
release renames any of these, this file fails with the name, instead of workers that silently
never retry a unit.
"""

from __future__ import annotations

import re
import time
import warnings
from importlib import metadata
from pathlib import Path

import optuna
import pytest

from lpg_meta.bench import storage

ROOT = Path(__file__).resolve().parents[2]


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:2])


def test_optuna_is_capped_at_the_tested_minor_version() -> None:
    spec = re.search(r'"optuna>=([\d.]+),<([\d.]+)"', (ROOT / "pyproject.toml").read_text())
    assert spec, "pyproject.toml must pin optuna to a range with an upper bound"
    pinned = re.search(r"^optuna==([\d.]+)$", (ROOT / "constraints.txt").read_text(), re.M)
    assert pinned, "constraints.txt must hold the tested optuna version"
    installed = metadata.version("optuna")
    assert installed == pinned.group(1)
    assert _version(spec.group(1)) <= _version(installed) < _version(spec.group(2))


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_the_internals_storage_py_uses_exist(kind, tmp_path) -> None:
    spec = f"sqlite:///{tmp_path}/s.db" if kind == "sqlite" else str(tmp_path / "s.journal")
    study = optuna.create_study(study_name="s", storage=storage.open_storage(spec))
    trial = storage.ask(study)
    backend = trial.study._storage  # noqa: SLF001
    assert isinstance(backend, optuna.storages.BaseStorage), "Study._storage is gone"
    assert isinstance(trial._trial_id, int), "Trial._trial_id is gone"  # noqa: SLF001
    assert backend.get_trial(trial._trial_id).number == trial.number  # noqa: SLF001
    assert storage._heartbeat_enabled(backend) == (kind == "sqlite")  # noqa: SLF001
    if kind == "sqlite":
        assert backend.get_heartbeat_interval() == storage.HEARTBEAT_S
    study.enqueue_trial({"x": 0.5})
    queued = study.get_trials(states=(optuna.trial.TrialState.WAITING,))[0]
    assert queued.system_attrs.get("fixed_params") == {"x": 0.5}, "enqueue_trial's fixed_params changed"
    assert backend.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)  # noqa: SLF001
    # A heartbeat retry names the trial it repeats in system_attrs["failed_trial"] (storage.origin).
    failed = study.get_trials(states=(optuna.trial.TrialState.FAIL,))[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.RetryHeartbeatStaleTrialCallback(3)(study, failed)
    retry = study.get_trials(states=(optuna.trial.TrialState.WAITING,))[-1]
    assert retry.system_attrs.get("failed_trial") == failed.number
    assert storage.origin(retry) == failed.number


def test_a_dead_remote_unit_on_a_journal_is_reclaimed_and_a_live_one_is_not(tmp_path, monkeypatch) -> None:
    # Before: a RUNNING unit of a dead worker on another host was never failed, so the other
    # workers polled forever. Now its lease in the journal runs out after GRACE_S.
    monkeypatch.setattr(storage, "HEARTBEAT_S", 1)
    monkeypatch.setattr(storage, "GRACE_S", 2)
    study = optuna.create_study(study_name="j", storage=storage.open_storage(str(tmp_path / "j.journal")))
    silent, beating = storage.ask(study), storage.ask(study)
    for trial in (silent, beating):
        trial.suggest_float("x", 0, 1)
        trial.set_user_attr("host", "another-machine")  # its pid means nothing here
        trial.set_user_attr("pid", 1)
    with storage.heartbeat(beating):
        time.sleep(4)  # past the grace period for the silent one only
        assert storage.fail_stale(study) == 1
    states = [(t.state.name, t.params, t.user_attrs.get("retry_of")) for t in study.get_trials()]
    assert states[0] == ("FAIL", silent.params, None) and states[1][:2] == ("RUNNING", beating.params)
    retry = study.get_trials()[2]
    assert states[2][::2] == ("WAITING", silent.number)  # enqueued again, once, as the same unit
    assert retry.system_attrs["fixed_params"] == silent.params
    assert storage.fail_stale(study) == 0
