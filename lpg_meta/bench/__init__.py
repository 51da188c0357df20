"""Benchmark suites: a declarative YAML matrix -> Optuna tuning per cell -> seeded runs.

``run_suite`` is the entry point (``lpg-meta run SUITE.yaml``); ``load_suite`` validates a
suite file and ``expand`` turns it into cells, each with its resolved run config. Names load on
first use, so the command line's parser does not import Optuna and torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lpg_meta.lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    **dict.fromkeys(
        ("Cell", "apply_params", "config_hash", "expand", "load_finished"), "lpg_meta.bench.cells"
    ),
    **dict.fromkeys(("add_run_parser", "cmd_run"), "lpg_meta.bench.command"),
    **dict.fromkeys(("Plan", "make_plan", "run_suite"), "lpg_meta.bench.runner"),
    **dict.fromkeys(
        ("DatasetRow", "MethodRow", "Suite", "Tuning", "load_suite", "parse_suite"),
        "lpg_meta.bench.schema",
    ),
}

__all__ = [
    "Cell",
    "DatasetRow",
    "MethodRow",
    "Plan",
    "Suite",
    "Tuning",
    "add_run_parser",
    "apply_params",
    "cmd_run",
    "config_hash",
    "expand",
    "load_finished",
    "load_suite",
    "make_plan",
    "parse_suite",
    "run_suite",
]

if TYPE_CHECKING:
    from lpg_meta.bench.cells import Cell, apply_params, config_hash, expand, load_finished
    from lpg_meta.bench.command import add_run_parser, cmd_run
    from lpg_meta.bench.runner import Plan, make_plan, run_suite
    from lpg_meta.bench.schema import (
        DatasetRow,
        MethodRow,
        Suite,
        Tuning,
        load_suite,
        parse_suite,
    )

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
