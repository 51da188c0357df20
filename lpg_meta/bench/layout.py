"""A suite's layout as plain data for the report: row order, display names and ``tables:``.

The report never imports training code, so the names that methods and data sets declare on
their classes (``display_name``) are read here and handed over as JSON-able data
(``report.layout.layout_from_dict`` reads it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lpg_meta.bench.schema import Suite, load_suite


def suite_spec(suite: Suite | str | Path) -> dict[str, Any]:
    """``{"suite", "datasets", "methods", "tables", "claims"}`` of a suite (or its file), rows in suite order."""
    from lpg_meta.data import DATASETS
    from lpg_meta.methods import method_display_name

    if not isinstance(suite, Suite):
        suite = load_suite(suite)
    datasets = {name: {"display": DATASETS.get(row.source).display_name or row.source}
                for name, row in suite.datasets.items()}
    # "declared": the row named itself; an undeclared name already taken falls back to the row name
    methods = {name: {"display": row.display or method_display_name(row.method), "method": row.method,
                      "declared": row.display is not None, "search_space": _space(row)}
               for name, row in suite.methods.items()}
    return {"suite": suite.name, "datasets": datasets, "methods": methods, "tables": suite.tables,
            "claims": suite.claims, "tuning": {"trials": suite.tuning.trials, "metric": suite.tuning.metric}}


def _space(row: Any) -> dict[str, list[Any]]:
    """The row's search space as JSON-able data: {} when the row is not tuned (seeds only)."""
    from lpg_meta.bench.space import parse_space
    from lpg_meta.methods import method_defaults, method_search_space

    space = row.tune
    if space is None:  # the method's declared space
        space = parse_space(method_search_space(row.method), f"methods.{row.name}.tune", method_defaults(row.method))
    return {key: list(dim) for key, dim in space.items()}
