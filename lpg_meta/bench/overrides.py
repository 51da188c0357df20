"""``lpg-meta run SUITE --set KEY=VALUE --out DIR``: a suite with settings laid over every cell.

The ``--set`` items are the last layer of each cell's config (after the suite's defaults, the
dataset row and the method row), so they change its resolved config and with it everything
keyed on that config: the tuning study's name, the runs study and which finished runs count.
A setting that only some rows have (``method.eps``, ``data.num_samples``) goes to the cells
that have it; one that no row has is a typo and an error. A tuned setting that ``--set`` fixes
leaves the search space. Without ``--out``, a suite with ``--set`` writes to its own folder
(``results/smoke-set-HASH``), so a quick try never replaces the suite's results.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lpg_meta import catalog
from lpg_meta.config import merge, parse_overrides, resolve_config
from lpg_meta.errors import UserError, closest
from lpg_meta.registry import MODELS

# Sections whose settings belong to one data source, model or method: applied where the cell has them.
PER_ROW = ("data", "model_params", "method_params")
SHOWN = {"data": "data", "model_params": "model", "method_params": "method"}  # as the user writes them


def with_overrides(suite: Any, items: list[str], out: str | Path | None) -> Any:
    """``suite`` (a ``schema.Suite``) with ``--set`` ``items`` as its last layer and output ``out``."""
    overrides = parse_overrides(items)
    for key in ("dataset", "method", "seed"):
        if key in overrides:
            raise UserError(f"--set {key}: a suite's rows set it; pick cells with --only DATASET/METHOD instead.")
    _check_known(suite, overrides)
    output = Path(out) if out is not None else suite.output
    if overrides and out is None:
        digest = hashlib.sha256(json.dumps(overrides, sort_keys=True).encode()).hexdigest()[:8]
        output = suite.output.with_name(f"{suite.output.name}-set-{digest}")
    return dataclasses.replace(suite, overrides=overrides, output=output)


def cell_overrides(raw: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """The part of ``overrides`` that applies to a cell of raw config ``raw`` (its rows' own settings only)."""
    if not overrides:
        return {}
    own = resolve_config({**raw, "seed": 0})
    return {key: ({k: v for k, v in value.items() if k in own[key]} if key in PER_ROW else value)
            for key, value in overrides.items()}


def apply_overrides(raw: dict[str, Any], overrides: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """``raw`` with the cell's ``overrides`` merged last, and the search-space keys they fix."""
    mine = cell_overrides(raw, overrides)
    fixed = {name if section == "method_params" else f"{section}.{name}"
             for section, value in mine.items() if isinstance(value, dict) for name in value}
    return merge(raw, mine), fixed


def _check_known(suite: Any, overrides: dict[str, Any]) -> None:
    """A per-row setting that no row of the suite has is a typo: one line naming it and the fix."""
    tables: dict[str, list[Mapping[str, Any]]] = {
        "data": [catalog.source(row.source).params for row in suite.datasets.values()],
        "method_params": [catalog.method_params(row.method) for row in suite.methods.values()],
        "model_params": [catalog.model(name).params for name in MODELS.names()],
    }
    for section in PER_ROW:
        known = {name for table in tables[section] for name in table}
        for name in overrides.get(section, {}):
            if name not in known:
                raise UserError(f"--set {SHOWN[section]}.{name}: no row of suite {suite.name} has this setting."
                                f"{closest(name, known)} Known: {', '.join(sorted(known)) or 'none'}.")
