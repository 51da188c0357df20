"""What a seeded run tells its Optuna study, so optuna-dashboard shows every unit, not only tuning trials.

Each epoch's validation metric is the trial's intermediate value at that epoch (as tuning trials
report theirs); the final test metrics are its user attributes (``test_accuracy``, ...). Both are
only a view for the dashboard: the results are ``result.json``, and nothing reads these back.
An epoch's report never holds training up: while the database is away it is kept and sent with
the next one (``retry.no_wait``); what is left is sent, waiting as any storage call does, when
the run is told.
"""

from __future__ import annotations

from typing import Any

import optuna

from lpg_meta.bench import retry
from lpg_meta.results import history_key


class EpochReporter:
    """An ``on_epoch`` callback of ``train``: the run's validation ``metric`` per epoch, to ``trial``."""

    def __init__(self, trial: optuna.Trial, metric: str) -> None:
        self.trial, self.metric = trial, metric
        self.pending: list[tuple[int, float]] = []
        self.sent: set[int] = set()

    def __call__(self, epoch: int, val: dict[str, Any]) -> None:
        value = val.get(self.metric)
        if isinstance(value, int | float):
            self.pending.append((epoch, float(value)))
        try:
            with retry.no_wait():
                self.flush()
        except Exception as err:
            if not retry.is_connection_error(err):
                raise  # kept: sent with the next epoch's, or when the run is told

    def flush(self) -> None:
        """Send the values not yet sent."""
        while self.pending:
            epoch, value = self.pending[0]
            if epoch not in self.sent:
                self.trial.report(value, epoch)
                self.sent.add(epoch)
            self.pending.pop(0)

    def finish(self, result: dict[str, Any]) -> None:
        """Send what is left, the history's values for a run trained elsewhere, and the test metrics."""
        key = history_key("val", self.metric)
        for epoch, record in enumerate(result.get("history", [])):
            if epoch not in self.sent and isinstance(record.get(key), int | float):
                self.pending.append((epoch, float(record[key])))
        self.flush()
        for name, value in result.get("metrics", {}).get("test", {}).items():
            if isinstance(value, int | float):
                self.trial.set_user_attr(f"test_{name}", value)
