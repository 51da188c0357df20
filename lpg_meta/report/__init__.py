"""Leaderboards and plots of a results folder (``lpg-meta table`` / ``lpg-meta plot``)."""

from lpg_meta.report.cli import add_plot_parser, add_table_parser, cmd_plot, cmd_table
from lpg_meta.report.collect import Run, group_runs, load_runs, mean_std
from lpg_meta.report.published import PUBLISHED, Published, lookup, protocol_of
from lpg_meta.report.tables import (
    METRICS,
    Table,
    build_table,
    leaderboard,
    render_csv,
    render_latex,
    render_markdown,
    write_leaderboards,
)

__all__ = [
    "METRICS", "PUBLISHED", "Published", "Run", "Table", "add_plot_parser", "add_table_parser",
    "build_table", "cmd_plot", "cmd_table", "group_runs", "leaderboard", "load_runs", "lookup",
    "Plot", "make_plots", "mean_std", "protocol_of", "render_csv", "render_latex", "render_markdown",
    "write_leaderboards", "write_plots",
]


def __getattr__(name: str):
    # Plots import matplotlib (slow); load them only when asked for.
    if name in ("make_plots", "write_plots", "Plot"):
        from lpg_meta.report import plots

        return getattr(plots, name)
    raise AttributeError(f"module 'lpg_meta.report' has no attribute {name!r}")
