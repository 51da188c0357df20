"""Load the ``result.json`` files of a results folder into runs grouped by table cell.

Layout: ``<root>/<dataset_row>/<method_row>/seed<N>/result.json`` (searched recursively).
Row names come from ``suite.dataset_row`` / ``suite.method_row`` when a result has them,
else from the folder names, so hand-made folders work as well as suite output.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lpg_meta.collapse import history_collapse
from lpg_meta.errors import UserError
from lpg_meta.results import RESULT_NAME


@dataclass(frozen=True)
class Run:
    """One seed of one (dataset row, method row) cell."""

    path: Path
    dataset_row: str
    method_row: str
    seed: int
    status: str
    result: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def config(self) -> dict[str, Any]:
        return self.result.get("config") or {}

    @property
    def failure(self) -> tuple[str, int | None]:
        """(reason, epoch) of a run that did not finish; an unknown status is its own reason."""
        info = self.result.get("failure") or {}
        reason = str(info.get("reason") or f"status '{self.status}'")
        epoch = info.get("epoch")
        return reason, (int(epoch) if isinstance(epoch, (int, float)) else None)

    @property
    def collapse(self) -> dict[str, Any] | None:
        """``lpg_meta.collapse`` of a finished run's history (recomputed: older files lack it)."""
        return history_collapse(self.result.get("history") or []) if self.ok else None

    def metric(self, name: str, split: str = "test") -> float | None:
        """A scalar metric of a finished run, None where it is undefined (null)."""
        if not self.ok:
            return None
        value = self.result["metrics"][split].get(name)
        return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def _load_json(path: Path) -> dict[str, Any]:
    fix = f"delete {path} and rerun that seed (a run interrupted while writing leaves such a file)."
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserError(f"cannot read {path} ({err}): {fix}") from None
    if not isinstance(data, dict) or "status" not in data:
        raise UserError(f"{path} is not a result file (no 'status'): {fix}")
    if data["status"] == "ok" and not all(
        isinstance(data.get("metrics", {}).get(s), dict) for s in ("test", "val")
    ):
        raise UserError(f"{path} says status 'ok' but lacks metrics.test / metrics.val: {fix}")
    return data


def _seed_of(path: Path, data: dict[str, Any]) -> int:
    for value in (data.get("seed"), (data.get("config") or {}).get("seed")):
        if isinstance(value, int):
            return value
    match = re.fullmatch(r"seed(\d+)", path.parent.name)
    if match:
        return int(match.group(1))
    raise UserError(f"{path} names no seed (no 'seed' key and its folder is not seedN): rerun it.")


def _row_names(path: Path, root: Path, data: dict[str, Any]) -> tuple[str, str]:
    suite = data.get("suite") or {}
    parts = path.relative_to(root).parts  # (..., dataset_row, method_row, seedN, result.json)
    config = data.get("config") or {}
    dataset_row = suite.get("dataset_row") or (parts[-4] if len(parts) >= 4 else config.get("dataset"))
    method_row = suite.get("method_row") or (parts[-3] if len(parts) >= 3 else config.get("method"))
    if not dataset_row or not method_row:
        raise UserError(f"cannot tell the dataset and method rows of {path}: use ROOT/DATASET/METHOD/seedN/.")
    return str(dataset_row), str(method_row)


def load_runs(root: str | Path) -> list[Run]:
    """Every result under ``root``, sorted by (dataset row, method row, seed).

    Raises:
        UserError: ``root`` is missing, holds no results, holds an unreadable file, or two
            files claim the same (dataset row, method row, seed).
    """
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"results folder {root} does not exist: run the suite first or check the path.")
    runs: dict[tuple[str, str, int], Run] = {}
    for path in sorted(root.rglob(RESULT_NAME)):
        if "plots" in path.relative_to(root).parts:
            continue  # our own output folder never holds results
        data = _load_json(path)
        dataset_row, method_row = _row_names(path, root, data)
        run = Run(path, dataset_row, method_row, _seed_of(path, data), str(data["status"]), data)
        key = (dataset_row, method_row, run.seed)
        if key in runs:
            # Averaging both would count one seed twice; the user has to pick one.
            raise UserError(f"{runs[key].path} and {path} are both {dataset_row}/{method_row} seed "
                            f"{run.seed}: delete one of them.")
        runs[key] = run
    if not runs:
        raise UserError(f"no {RESULT_NAME} under {root}: run the suite first or check the path.")
    return [runs[k] for k in sorted(runs)]


def group_runs(runs: list[Run]) -> dict[tuple[str, str], list[Run]]:
    """Runs per (dataset row, method row), in sorted key order, seeds ascending."""
    groups: dict[tuple[str, str], list[Run]] = {}
    for run in sorted(runs, key=lambda r: (r.dataset_row, r.method_row, r.seed)):
        groups.setdefault((run.dataset_row, run.method_row), []).append(run)
    return groups


def mean_std(values: list[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (n - 1); std is None below two values."""
    if not values:
        return None, None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)
