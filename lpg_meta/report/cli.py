"""``lpg-meta table``, ``claims``, ``plot`` and ``theory``: parsers and handlers for the main CLI to wire in.

Each takes a results folder or a ``runs.csv``. ``--suite FILE`` (order, display names and the
``tables:`` section) is turned into a plain spec by the main CLI (``bench.layout``) and arrives
here as ``args.spec``, so this module never imports training code.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from lpg_meta.report.layout import FORMATS, METRICS


def _source(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("root", help="results folder (searched for result.json) or a runs.csv")
    parser.add_argument("--suite", dest="suite_file", default=None,
                        help="suite YAML (or a shipped suite's name) whose row order, display names and tables: "
                             "section to use (default: none; a runs.csv uses the runs.json beside it)")
    parser.add_argument("--out", default=None, help="where to write (default: the folder of ROOT)")


def _out(args: argparse.Namespace) -> Path:
    root = Path(args.root)
    return Path(args.out) if args.out else (root.parent if root.is_file() else root)


def _results(args: argparse.Namespace):
    from lpg_meta.report.tidy import load_results

    return load_results(args.root, getattr(args, "spec", None))


def add_table_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``table ROOT [--format md|latex|csv] [--metric NAME] [--split] [--write] [--suite] [--out]``."""
    parser = subparsers.add_parser("table", help="paper tables of a results folder or runs.csv")
    _source(parser)
    parser.add_argument("--format", choices=FORMATS, default="md", help="output format (default md)")
    parser.add_argument("--metric", default=None,
                        help=f"one of {', '.join(METRICS)} (default: each table's, else balanced_accuracy)")
    parser.add_argument("--split", choices=("test", "val"), default="test",
                        help="which split's last-epoch metrics (default test)")
    parser.add_argument("--write", action="store_true",
                        help="also write leaderboard.md/.csv/.tex, the .tex of each table at each page width, "
                             "hyperparameters.csv/.tex and, from result files, runs.csv, curves.csv.gz, runs.json "
                             "and run_settings.csv")
    return parser


def cmd_table(args: argparse.Namespace) -> int:
    """Print the tables; with ``--write`` also write them (and the tidy data) to the output folder."""
    from lpg_meta.report.hyperparameters import write_hyperparameters
    from lpg_meta.report.render import render, write_leaderboards
    from lpg_meta.report.tables import build_tables
    from lpg_meta.report.tidy import write_tidy

    results = _results(args)
    print(render(build_tables(results, args.metric, args.split), args.format), end="")
    if args.write:
        out = _out(args)
        paths = write_leaderboards(results, out, args.metric, args.split) + write_hyperparameters(results, out)
        if Path(args.root).is_dir() and any(Path(args.root).rglob("result.json")):
            paths += write_tidy(results, out)
        for path in paths:
            print(f"wrote {path}", file=sys.stderr)
    return 0


def add_claims_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``claims ROOT [--metric NAME] [--suite] [--out]``."""
    parser = subparsers.add_parser("claims", help="test the paper's claims: claims.md, .tex and .csv")
    _source(parser)
    parser.add_argument("--metric", default=None, choices=METRICS,
                        help="metric compared (default: each declared claim's, else balanced_accuracy)")
    return parser


def cmd_claims(args: argparse.Namespace) -> int:
    """Write claims.md, .tex and .csv and print the Markdown."""
    from lpg_meta.report.claims_render import write_claims

    paths = write_claims(_results(args), _out(args), args.metric)
    print(paths[0].read_text(), end="")
    for path in paths:
        print(f"wrote {path}", file=sys.stderr)
    return 0


def add_plot_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``plot ROOT [--suite] [--out]``."""
    parser = subparsers.add_parser(
        "plot", help="figures of a results folder or runs.csv: OUT/plots/NAME_column.pdf (3.25 in) and "
                     "NAME_text.pdf (6.75 in)")
    _source(parser)
    return parser


def cmd_plot(args: argparse.Namespace) -> int:
    """Write every plot that applies and list the files."""
    from lpg_meta.report.plots import write_plots  # matplotlib loads only for this command

    paths = write_plots(_results(args), _out(args))
    for path in paths:
        print(f"wrote {path}", file=sys.stderr)
    if not paths:
        print(f"no plot applies to {args.root}", file=sys.stderr)
    return 0


def add_theory_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``theory ROOT [--suite] [--out]``."""
    parser = subparsers.add_parser(
        "theory", help="the paper's theory measured: PAC-Bayes bound vs test error, amplify/dampen conjecture "
                       "(theory.md, .tex, plots/theory_*); with ROOT's certificates.csv (lpg-meta certify), "
                       "a section on them")
    _source(parser)
    return parser


def cmd_theory(args: argparse.Namespace) -> int:
    """Write theory.md, theory.tex and plots/theory_*.pdf and print the Markdown."""
    from lpg_meta.report.theory_render import write_theory  # scipy and matplotlib load only here
    from lpg_meta.results import CERTIFICATES_NAME

    root = Path(args.root)
    paths = write_theory(_results(args), _out(args), (root.parent if root.is_file() else root) / CERTIFICATES_NAME)
    print(paths[0].read_text(), end="")
    for path in paths:
        print(f"wrote {path}", file=sys.stderr)
    return 0
