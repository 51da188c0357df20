"""Command line: ``lpg-meta train | list | show | data | run | table | claims | plot | theory | certify | quick``."""

from __future__ import annotations

import argparse
import difflib
import json
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from lpg_meta import __version__
from lpg_meta.bench.command import add_data_root, add_run_parser, cmd_run
from lpg_meta.catalog.describe import listing, show
from lpg_meta.certify.command import add_certify_parser, cmd_certify
from lpg_meta.errors import TrainingDivergedError, UserError
from lpg_meta.report.cli import (
    add_claims_parser,
    add_plot_parser,
    add_table_parser,
    add_theory_parser,
    cmd_claims,
    cmd_plot,
    cmd_table,
    cmd_theory,
)
from lpg_meta.stage import stage


def _run_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default="mnist1d",
                        help="registered data set, see `lpg-meta list` (default mnist1d)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting, e.g. data.imbalance=100 or method.eps=0.5; repeatable "
                             "(default: none)")
    add_data_root(parser)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors end with the fix: the closest option and where help is."""

    commands: dict[str, argparse.ArgumentParser]  # sub-command parsers, set by build_parser

    def error(self, message: str) -> NoReturn:
        hint = ""
        if message.startswith("unrecognized arguments:"):
            flags = [a.split("=", 1)[0] for a in message.split(":", 1)[1].split() if a.startswith("-")]
            # Compared without dashes: every option shares them, which made any flag look close.
            options = {o.lstrip("-"): o for a in self._actions for o in a.option_strings if o.startswith("--")}
            match = difflib.get_close_matches(flags[0].lstrip("-"), list(options), n=1, cutoff=0.6) if flags else []
            hint = f" Did you mean '{options[match[0]]}'?" if match else ""
        # One line, no usage block: the message names the option and the fix, --help has the rest.
        self.exit(2, f"{self.prog}: error: {message}.{hint} See '{self.prog} --help'.\n")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse ``argv``; an unknown option is reported by its sub-command, with the closest one."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        parser.commands[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def build_parser() -> Parser:
    parser = Parser(prog="lpg-meta", description="Learning to Perturb Gradients: reproduction suite.")
    parser.add_argument("--version", action="version", version=f"lpg-meta {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    parser.commands = sub.choices

    train = sub.add_parser("train", help="train one run and write result.json")
    _run_args(train)
    train.add_argument("--method", default="ce", help="registered method, or a plug-in such as lpg+la (default ce)")
    train.add_argument("--seed", type=int, default=0, help="seed of data, initialisation and order (default 0)")
    train.add_argument("--out", default=None, help="output folder (default runs/DATASET/METHOD/seedN)")
    train.add_argument("--force", action="store_true",
                       help="replace a result.json of another config in the output folder (default: refuse)")

    sub.add_parser("list", help="list methods, data sets and models")
    show = sub.add_parser("show", help="an entry's description, reference, settings, ranges and search space")
    show.add_argument("name", help="a method (or a plug-in such as lpg+la), data set or model; see `lpg-meta list`")

    data = sub.add_parser("data", help="show the splits of a data set")
    _run_args(data)
    data.add_argument("--seed", type=int, default=0, help="seed of the split (default 0)")
    data.add_argument("--json", action="store_true", help="print JSON instead of a table (default: a table)")

    add_run_parser(sub)
    add_table_parser(sub)
    add_claims_parser(sub)
    add_plot_parser(sub)
    add_theory_parser(sub)
    add_certify_parser(sub)

    quick = sub.add_parser("quick", help="`make quick`: ce vs lpg on long-tail MNIST-1D, 3 seeds, a table",
                           description="ce against lpg on long-tail MNIST-1D (imbalance 100), 30 epochs a run; "
                                       "finished runs are loaded, not trained again. (`make reproduce` is the "
                                       "whole CPU suite: `lpg-meta run cpu`.)")
    quick.add_argument("--out", default="results/quick", metavar="DIR",
                       help="folder of the runs, DIR/METHOD/seedN (default results/quick)")
    quick.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], metavar="SEED",
                       help="seeds of each method (default 0 1 2)")
    quick.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a setting of both methods (method.* settings: lpg's only), e.g. "
                            "train.epochs=5; repeatable (default: none)")
    add_data_root(quick)
    return parser


def _keep_other_result(out: Path, cfg: dict[str, Any], force: bool) -> None:
    """Refuse to replace ``out/result.json`` when it holds another config's result."""
    from lpg_meta.config import differing_settings
    from lpg_meta.results import config_hash

    previous = out / "result.json"
    if force or not previous.exists():
        return
    try:
        old = json.loads(previous.read_text())["config"]
        same, differ = config_hash(old) == config_hash(cfg), differing_settings(old, cfg)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        same, differ = False, []  # unreadable: it may still be someone's result
    if not same:
        what = f" (it differs in {'; '.join(differ[:6])}{'; ...' if len(differ) > 6 else ''})" if differ else ""
        raise UserError(f"{previous} holds the result of another config{what}; keep it with --out DIR "
                        "(another folder), or replace it with --force.")


def _resolved(dataset: str, method: str, seed: int, overrides: list[str]) -> dict[str, Any]:
    from lpg_meta import catalog
    from lpg_meta.config import merge, parse_overrides, resolve_config
    from lpg_meta.registry import DATASETS

    given = parse_overrides(overrides)
    raw = merge({"dataset": dataset, "method": method, "seed": seed}, given)
    # Check the names first, so the message names the flag that carries them.
    for key, check in (("dataset", DATASETS.declaration), ("method", catalog.method_parts)):
        if isinstance(raw[key], str):
            try:
                check(raw[key])
            except UserError as err:
                raise UserError(f"{f'--set {key}' if key in given else f'--{key}'}: {err}") from None
    return resolve_config(raw)


def cmd_train(args: argparse.Namespace) -> int:
    from lpg_meta.results import writable_folder
    from lpg_meta.train.trainer import train

    with stage("loading torch and the registries"):
        cfg = _resolved(args.dataset, args.method, args.seed, args.overrides)
        _load_training()
    out = Path(args.out or f"runs/{cfg['dataset']}/{cfg['method']}/seed{cfg['seed']}")
    writable_folder(out, "--out")  # before training, not when the result is written
    _keep_other_result(out, cfg, args.force)  # the same config is trained again and replaced
    result = train(cfg, out, foreign_checkpoint="restart" if args.force else "error")
    test = result["metrics"]["test"]
    print(f"{cfg['dataset']} {cfg['method']} seed {cfg['seed']}: test accuracy {100 * test['accuracy']:.2f}%, "
          f"balanced {100 * test['balanced_accuracy']:.2f}%, {result['timing']['seconds_total']:.1f}s "
          f"-> {out / 'result.json'}")
    return 0


def cmd_list(_: argparse.Namespace) -> int:
    print(listing())
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    print(show(args.name))
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from lpg_meta.data import build_data

    with stage("loading torch and the registries"):
        cfg = _resolved(args.dataset, "ce", args.seed, args.overrides)
    with stage(f"building {cfg['dataset']} (seed {cfg['seed']})"):
        bundle = build_data(cfg["dataset"], cfg["data"], cfg["seed"])
    summary = bundle.summary()
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    counts = summary["per_class"]
    rows = [[c, *(counts[s][c] for s in ("train", "meta", "val", "test"))] for c in range(len(counts["train"]))]
    print(tabulate(rows, headers=["class", "train", "meta", "val", "test"]))
    noise = summary["noise"]
    print(f"noise: {noise['kind']} asked {noise['rate']:.3f}, realised {noise['realised_rate']:.4f}")
    clean = bundle.train.counts(bundle.num_classes, clean=True)
    # target_counts is empty where the data set asked for none.
    pairs = zip(bundle.target_counts, clean, strict=False)
    short = [f"{c}: {n} of {t}" for c, (t, n) in enumerate(pairs) if n != t]
    if short:  # the pool lost meta + val samples first, so these classes cannot reach their count
        print(f"long tail: {len(short)} class(es) below the asked count (class: kept of asked): {', '.join(short)}")
    return 0


def _load_training() -> None:
    """Import what a run's first optimizer would import on its own, silently: torch's compiler
    front end (torch._dynamo, several seconds), so that the wait is shown as loading."""
    import torch._dynamo  # noqa: F401


def cmd_quick(args: argparse.Namespace) -> int:
    with stage("loading torch and the registries"):
        from lpg_meta.quick import quick

        _load_training()
    quick(Path(args.out), args.seeds, args.overrides)
    return 0


COMMANDS = {
    "train": cmd_train,
    "list": cmd_list,
    "show": cmd_show,
    "data": cmd_data,
    "quick": cmd_quick,
    "run": cmd_run,
    "table": cmd_table,
    "claims": cmd_claims,
    "plot": cmd_plot,
    "theory": cmd_theory,
    "certify": cmd_certify,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lpg-meta`` console script."""
    args = parse_args(argv)
    if getattr(args, "data_root", None):
        # Through the environment, so spawned workers and every data source see it too.
        os.environ["LPG_DATA"] = args.data_root
    try:
        if getattr(args, "suite_file", None):  # report commands: the suite's layout as plain data
            from lpg_meta.bench.layout import suite_spec

            args.spec = suite_spec(args.suite_file)
        return COMMANDS[args.command](args)
    except UserError as err:
        # One line whatever the message holds (a path or a library's text may bring newlines).
        print(f"lpg-meta: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    except TrainingDivergedError as err:
        print(f"lpg-meta: error: {err}; lower optim.lr or the method's step sizes.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        hint = {"quick": " finished runs are kept; run the same command again to resume."}
        if args.command in ("train", "run"):  # both continue from the run folders' checkpoints
            command = shlex.join(["lpg-meta", *(sys.argv[1:] if argv is None else argv)])
            kept = "the last checkpoint is" if args.command == "train" else "finished units and checkpoints are"
            hint[args.command] = f" {kept} kept; run the same command again to resume: {command}"
        print(f"lpg-meta: interrupted.{hint.get(args.command, '')}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
