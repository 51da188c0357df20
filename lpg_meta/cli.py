"""Command line: ``lpg-meta train | list | data | run | table | plot | reproduce``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lpg_meta.bench.command import add_run_parser, cmd_run
from lpg_meta.errors import TrainingDivergedError, UserError
from lpg_meta.report.cli import add_plot_parser, add_table_parser, cmd_plot, cmd_table


def _run_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default="mnist1d", help="registered data set (see `lpg-meta list`)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting, e.g. data.imbalance=100 or method.eps=0.5 (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lpg-meta", description="Learning to Perturb Gradients: reproduction suite.")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train one run and write result.json")
    _run_args(train)
    train.add_argument("--method", default="ce", help="registered method, or a plug-in such as lpg+la")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", default=None, help="output folder (default runs/DATASET/METHOD/seedN)")

    sub.add_parser("list", help="list methods, data sets and models")

    data = sub.add_parser("data", help="show the splits of a data set")
    _run_args(data)
    data.add_argument("--seed", type=int, default=0)
    data.add_argument("--json", action="store_true", help="print JSON instead of a table")

    add_run_parser(sub)
    add_table_parser(sub)
    add_plot_parser(sub)

    reproduce = sub.add_parser("reproduce", help="ce vs lpg on long-tail MNIST-1D, 3 seeds")
    reproduce.add_argument("--out", default="results/reproduce")
    reproduce.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    reproduce.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    return parser


def _resolved(dataset: str, method: str, seed: int, overrides: list[str]) -> dict[str, Any]:
    from lpg_meta.config import merge, parse_overrides, resolve_config

    return resolve_config(merge({"dataset": dataset, "method": method, "seed": seed}, parse_overrides(overrides)))


def cmd_train(args: argparse.Namespace) -> int:
    from lpg_meta.train.trainer import train

    cfg = _resolved(args.dataset, args.method, args.seed, args.overrides)
    out = Path(args.out or f"runs/{cfg['dataset']}/{cfg['method']}/seed{cfg['seed']}")
    result = train(cfg, out)
    test = result["metrics"]["test"]
    print(f"{cfg['dataset']} {cfg['method']} seed {cfg['seed']}: test accuracy {100 * test['accuracy']:.2f}%, "
          f"balanced {100 * test['balanced_accuracy']:.2f}%, {result['timing']['seconds_total']:.1f}s -> {out / 'result.json'}")
    return 0


def cmd_list(_: argparse.Namespace) -> int:
    from lpg_meta.data import DATASETS
    from lpg_meta.methods import METHODS
    from lpg_meta.models import MODELS

    for title, registry in (("methods", METHODS), ("datasets", DATASETS), ("models", MODELS)):
        print(f"{title}: {', '.join(registry.names())}")
    print("plug-ins: lpg+BASE (and lpg_scale+BASE, ...) for any loss-based BASE or sam")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from lpg_meta.data import build_data

    cfg = _resolved(args.dataset, "ce", args.seed, args.overrides)
    summary = build_data(cfg["dataset"], cfg["data"], cfg["seed"]).summary()
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    counts = summary["per_class"]
    rows = [[c, *(counts[s][c] for s in ("train", "meta", "val", "test"))] for c in range(len(counts["train"]))]
    print(tabulate(rows, headers=["class", "train", "meta", "val", "test"]))
    noise = summary["noise"]
    print(f"noise: {noise['kind']} asked {noise['rate']:.3f}, realised {noise['realised_rate']:.4f}")
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from lpg_meta.reproduce import reproduce

    reproduce(Path(args.out), args.seeds, args.overrides)
    return 0


COMMANDS = {
    "train": cmd_train,
    "list": cmd_list,
    "data": cmd_data,
    "reproduce": cmd_reproduce,
    "run": cmd_run,
    "table": cmd_table,
    "plot": cmd_plot,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lpg-meta`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except UserError as err:
        print(f"lpg-meta: error: {err}", file=sys.stderr)
        return 2
    except TrainingDivergedError as err:
        print(f"lpg-meta: error: {err}; lower optim.lr or the method's step sizes.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lpg-meta: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
