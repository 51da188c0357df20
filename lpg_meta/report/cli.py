"""``lpg-meta table`` and ``lpg-meta plot``: parsers and handlers for the main CLI to wire in."""

from __future__ import annotations

import argparse
from typing import Any

from lpg_meta.report.tables import FORMATS, METRICS


def add_table_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``table ROOT [--format md|latex|csv] [--metric NAME] [--split] [--write]``."""
    parser = subparsers.add_parser("table", help="leaderboard of a results folder (mean ± std over seeds)")
    parser.add_argument("root", help="results folder, e.g. results/SUITE (searched for result.json)")
    parser.add_argument("--format", choices=FORMATS, default="md", help="output format (default md)")
    parser.add_argument("--metric", default="balanced_accuracy",
                        help=f"one of {', '.join(METRICS)} (default balanced_accuracy)")
    parser.add_argument("--split", choices=("test", "val"), default="test",
                        help="which split's last-epoch metrics (default test)")
    parser.add_argument("--write", action="store_true",
                        help="also write ROOT/leaderboard.md, .tex and .csv")
    return parser


def cmd_table(args: argparse.Namespace) -> int:
    """Print the leaderboard; with ``--write`` also write the three leaderboard files."""
    from lpg_meta.report.tables import leaderboard, write_leaderboards

    print(leaderboard(args.root, args.format, args.metric, args.split), end="")
    if args.write:
        for path in write_leaderboards(args.root, args.metric, args.split):
            print(f"wrote {path}")
    return 0


def add_plot_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``plot ROOT``."""
    parser = subparsers.add_parser("plot", help="PNG plots of a results folder under ROOT/plots/")
    parser.add_argument("root", help="results folder, e.g. results/SUITE")
    return parser


def cmd_plot(args: argparse.Namespace) -> int:
    """Write every plot that applies and list the files."""
    from lpg_meta.report.plots import write_plots  # matplotlib loads only for this command

    paths = write_plots(args.root)
    for path in paths:
        print(f"wrote {path}")
    if not paths:
        print(f"no plot applies to {args.root} (no LPG trajectories, long-tail rows or noise-rate series)")
    return 0
