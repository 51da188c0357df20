"""Paper tables, claims and plots of a results folder or ``runs.csv`` (``lpg-meta table / claims / plot``).

Names load on first use (PEP 562): statistics need scipy and plots matplotlib, which the command line
and ``lpg_meta.bench`` must not pay for until a report is made.
"""

from __future__ import annotations

from lpg_meta.lazy import lazy_exports

# public name -> the module of this package that defines it
_EXPORTS: dict[str, str] = {
    "check_claims": "lpg_meta.report.claims",
    "suite_friedman": "lpg_meta.report.claims",
    "summarize": "lpg_meta.report.claims",
    "write_claims": "lpg_meta.report.claims_render",
    "ClaimSpec": "lpg_meta.report.claim_specs",
    "parse_claims": "lpg_meta.report.claim_specs",
    "bayes_signed_rank": "lpg_meta.report.across",
    "across_rows": "lpg_meta.report.across",
    "identical_cells": "lpg_meta.report.identical",
    "format_p": "lpg_meta.report.stats",
    "holm_adjust": "lpg_meta.report.stats",
    "add_claims_parser": "lpg_meta.report.cli",
    "add_plot_parser": "lpg_meta.report.cli",
    "add_table_parser": "lpg_meta.report.cli",
    "add_theory_parser": "lpg_meta.report.cli",
    "cmd_claims": "lpg_meta.report.cli",
    "cmd_plot": "lpg_meta.report.cli",
    "cmd_table": "lpg_meta.report.cli",
    "cmd_theory": "lpg_meta.report.cli",
    "write_hyperparameters": "lpg_meta.report.hyperparameters",
    "Run": "lpg_meta.report.collect",
    "group_runs": "lpg_meta.report.collect",
    "load_runs": "lpg_meta.report.collect",
    "mean_std": "lpg_meta.report.collect",
    "METRIC_INFO": "lpg_meta.report.layout",
    "Layout": "lpg_meta.report.layout",
    "TableSpec": "lpg_meta.report.layout",
    "layout_from_dict": "lpg_meta.report.layout",
    "PUBLISHED": "lpg_meta.report.published",
    "Published": "lpg_meta.report.published",
    "lookup": "lpg_meta.report.published",
    "protocol_of": "lpg_meta.report.published",
    "leaderboard": "lpg_meta.report.render",
    "render": "lpg_meta.report.render",
    "write_leaderboards": "lpg_meta.report.render",
    "column_marks": "lpg_meta.report.stats",
    "friedman": "lpg_meta.report.stats",
    "friedman_ranks": "lpg_meta.report.stats",
    "holm": "lpg_meta.report.stats",
    "paired": "lpg_meta.report.stats",
    "METRICS": "lpg_meta.report.layout",
    "Table": "lpg_meta.report.tables",
    "build_table": "lpg_meta.report.tables",
    "build_tables": "lpg_meta.report.tables",
    "Results": "lpg_meta.report.tidy",
    "load_results": "lpg_meta.report.tidy",
    "write_tidy": "lpg_meta.report.tidy",
    "spearman_by_class": "lpg_meta.report.theory",
    "write_theory": "lpg_meta.report.theory_render",
    "Plot": "lpg_meta.report.plots",
    "make_plots": "lpg_meta.report.plots",
    "write_plots": "lpg_meta.report.plots",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
