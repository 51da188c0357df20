"""A suite's layout as plain data for the report: row order, display names and ``tables:``.

The names that methods and data sets declare (``lpg_meta/catalog``) are read here and handed
over as JSON-able data (``report.layout.layout_from_dict`` reads it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lpg_meta import catalog
from lpg_meta.bench.schema import Suite, load_suite
from lpg_meta.bench.space import parse_space


def suite_spec(suite: Suite | str | Path) -> dict[str, Any]:
    """``{"suite", "datasets", "methods", "tables", "claims"}`` of a suite (or its file), rows in suite order."""
    if not isinstance(suite, Suite):
        suite = load_suite(suite)
    datasets = {name: {"display": catalog.source(row.source).shown}
                for name, row in suite.datasets.items()}
    # "declared": the row named itself; an undeclared name already taken falls back to the row name
    methods = {name: {"display": row.display or catalog.method_display_name(row.method), "method": row.method,
                      "declared": row.display is not None, "search_space": _space(row)}
               for name, row in suite.methods.items()}
    return {"suite": suite.name, "datasets": datasets, "methods": methods, "tables": suite.tables,
            "claims": suite.claims, "tuning": {"trials": suite.tuning.trials, "metric": suite.tuning.metric}}


def _space(row: Any) -> dict[str, list[Any]]:
    """The row's search space as JSON-able data: {} when the row is not tuned (seeds only)."""
    space = row.tune
    if space is None:  # the method's declared space
        space = parse_space(catalog.method_search_space(row.method), f"methods.{row.name}.tune",
                            catalog.method_params(row.method))
    return {key: list(dim) for key, dim in space.items()}
