"""Paper tables, claims and plots of a results folder or ``runs.csv`` (``lpg-meta table / claims / plot``)."""

from lpg_meta.report.claims import check_claims, suite_friedman, write_claims
from lpg_meta.report.cli import (
    add_claims_parser,
    add_plot_parser,
    add_table_parser,
    cmd_claims,
    cmd_plot,
    cmd_table,
)
from lpg_meta.report.collect import Run, group_runs, load_runs, mean_std
from lpg_meta.report.layout import METRIC_INFO, Layout, TableSpec, layout_from_dict
from lpg_meta.report.published import PUBLISHED, Published, lookup, protocol_of
from lpg_meta.report.render import leaderboard, render, write_leaderboards
from lpg_meta.report.stats import column_marks, friedman, friedman_ranks, holm, paired
from lpg_meta.report.tables import METRICS, Table, build_table, build_tables
from lpg_meta.report.tidy import Results, load_results, write_tidy

__all__ = [
    "METRICS", "METRIC_INFO", "PUBLISHED", "Layout", "Plot", "Published", "Results", "Run", "Table", "TableSpec",
    "add_claims_parser", "add_plot_parser", "add_table_parser", "build_table", "build_tables", "check_claims",
    "cmd_claims", "cmd_plot", "cmd_table", "column_marks", "friedman", "friedman_ranks", "group_runs", "holm",
    "layout_from_dict", "leaderboard", "load_results", "load_runs", "lookup", "make_plots", "mean_std", "paired",
    "protocol_of", "render", "suite_friedman", "write_claims", "write_leaderboards", "write_plots", "write_tidy",
]


def __getattr__(name: str):
    # Plots import matplotlib (slow); load them only when asked for.
    if name in ("make_plots", "write_plots", "Plot"):
        from lpg_meta.report import plots

        return getattr(plots, name)
    raise AttributeError(f"module 'lpg_meta.report' has no attribute {name!r}")
