"""The ``lpg-meta run`` sub-command: argument parsing and the printed summary."""

from __future__ import annotations

import argparse
import math
import os
import shlex
from typing import Any

import yaml
from tabulate import tabulate

from lpg_meta import catalog
from lpg_meta.bench.cells import expand
from lpg_meta.bench.overrides import with_overrides
from lpg_meta.bench.schema import load_suite
from lpg_meta.bench.suite_files import shipped_suites
from lpg_meta.errors import UserError
from lpg_meta.registry import METHODS, MODELS
from lpg_meta.results import config_hash
from lpg_meta.stage import stage


def add_run_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``run SUITE.yaml [--workers N] [--storage URL] [--only GLOB] [--dry-run]``."""
    parser = subparsers.add_parser(
        "run", help="tune and run a benchmark suite (benchmarks/*.yaml)",
        description="Tune every dataset x method cell of a suite with Optuna on the validation split, "
                    "then run the best parameters once per seed. Finished work is skipped.")
    parser.add_argument("suite", help="suite file (e.g. benchmarks/smoke.yaml) or a shipped suite's name: "
                                      f"{', '.join(shipped_suites()) or 'none found'}")
    parser.add_argument("--workers", type=int, default=1, help="local worker processes (default 1)")
    parser.add_argument("--storage", default=None,
                        help="Optuna storage URL (sqlite:///x.db) or journal file (default OUTPUT/optuna.journal)")
    parser.add_argument("--only", default=None, metavar="GLOB",
                        help="run only cells matching DATASET/METHOD, e.g. 'lt/*' (default: every cell)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting of every cell, last (after defaults and rows), e.g. "
                             "train.epochs=1; repeatable (default: none)")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="output folder (default: the suite's `output`, results/SUITE; with --set "
                             "results/SUITE-set-HASH, so the suite's own results stay)")
    parser.add_argument("--dry-run", action="store_true", help="list the cells and their estimated cost; run nothing")
    parser.add_argument("--print-config", default=None, metavar="CELL",
                        help="print the resolved config of cell DATASET/METHOD (a glob: every matching cell) on the "
                             "suite's first seed with its untuned values, and its config hash; run nothing "
                             "(default: run the suite)")
    parser.add_argument("--devices", default=None, metavar="0,1,...",
                        help="GPUs the workers share round-robin (default: every visible GPU when there are several)")
    parser.add_argument("--storage-retry", type=float, default=None, metavar="SECONDS",
                        help="how long workers wait for a database storage that went away (default 300)")
    parser.add_argument("--slurm", default=None, metavar="KEY=VALUE,...",
                        help="submit the workers as a Slurm job array instead, e.g. "
                             "partition=gpu,gpus_per_task=1,array=64 (default: local workers; see the README)")
    add_data_root(parser)
    return parser


def add_data_root(parser: argparse.ArgumentParser) -> None:
    """Add ``--data-root FOLDER``: where CIFAR lies when ``data.root`` is not set (the CLI sets ``$LPG_DATA``)."""
    parser.add_argument("--data-root", default=None, metavar="FOLDER",
                        help="folder holding cifar-10-batches-py/ and cifar-100-python/, used where data.root "
                             "is not set; sets $LPG_DATA (default: $LPG_DATA)")


def cmd_run(args: argparse.Namespace) -> int:
    """Run the suite named in ``args`` and print a summary; UserErrors go up to the CLI.

    The suite, its storage, output folder, earlier results and data are all checked before
    anything is written (``run_suite`` calls ``preflight``), so a mistake never leaves a half-made output folder.
    """
    if isinstance(args.workers, bool) or args.workers < 1:
        raise UserError(f"--workers must be a positive integer, got {args.workers}; e.g. --workers 2.")
    if args.storage_retry is not None:
        from lpg_meta.bench.retry import RETRY_ENV

        if not args.storage_retry >= 0:
            raise UserError(f"--storage-retry must be >= 0 seconds, got {args.storage_retry}.")
        os.environ[RETRY_ENV] = str(args.storage_retry)  # through the environment: workers and Slurm tasks
    if args.print_config is not None:
        print(resolved_configs(args.suite, args.print_config, args.overrides, args.out))
        return 0
    if args.slurm is not None:
        return _submit(args)
    from lpg_meta.bench.devices import parse_devices
    from lpg_meta.bench.runner import run_suite  # Optuna and torch: not for `lpg-meta --help`

    summary = run_suite(args.suite, workers=args.workers, storage=args.storage, only=args.only,
                        dry_run=args.dry_run, devices=parse_devices(args.devices), overrides=args.overrides,
                        out=args.out)
    print(format_dry_run(summary) if summary["dry_run"] else format_summary(summary))
    if summary["dry_run"]:
        return 0
    complete = all(r["status"] != "missing" for c in summary["cells"] for r in c["runs"])
    if complete and args.only is None:
        from lpg_meta.bench.layout import suite_spec
        from lpg_meta.report import (
            load_results,
            write_claims,
            write_hyperparameters,
            write_leaderboards,
            write_plots,
            write_theory,
            write_tidy,
        )

        out = summary["output"]
        with stage("report: loading results"):
            results = load_results(out, suite_spec(args.suite))
        written = []
        for name, write in (("tidy tables", write_tidy), ("tables", write_leaderboards),
                            ("hyperparameters", write_hyperparameters), ("claims", write_claims),
                            ("plots", write_plots), ("theory", write_theory)):
            with stage(f"report: {name}"):
                written += write(results, out)
        print("wrote " + ", ".join(str(p) for p in written))
    return 0 if complete else 1


def _submit(args: argparse.Namespace) -> int:
    """``--slurm``: submit the workers, say where they log and what to run once they are done."""
    from lpg_meta.bench.slurm import launch

    if args.dry_run or args.devices is not None or args.workers != 1:
        raise UserError("--slurm submits one worker per array task: leave out --workers, --devices and --dry-run "
                        "(set the tasks with --slurm array=N).")
    jobs = launch(args.suite, args.slurm, storage=args.storage, only=args.only)
    tables = shlex.join(["lpg-meta", "run", args.suite, *(["--storage", args.storage] if args.storage else [])])
    print(f"submitted {len(jobs)} worker task(s), job {jobs[0].job_id.split('_')[0]}; logs in "
          f"{jobs[0].paths.folder}. Once they are done, `{tables}` writes the tables (it trains nothing finished).")
    return 0


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 90:
        return f"{seconds:.0f}s"
    return f"{seconds / 60:.0f}min" if seconds < 5400 else f"{seconds / 3600:.1f}h"


def format_dry_run(summary: dict[str, Any]) -> str:
    """The dry-run table and how its estimate is made."""
    from lpg_meta.bench.estimate import PROCESS_START_SECONDS, RUN_START_SECONDS, STEP_SECONDS

    rows = [[r["cell"], r["trials_left"], r["seeds_left"], r["epochs"], r["steps_per_epoch"] or "?",
             r["run_equivalents"], _duration(r["seconds"]) + ("" if r["step_seconds_measured"] else "*")]
            for r in summary["cells"]]
    headers = ["cell", "trials left", "seeds left", "epochs", "steps/epoch", "run-equiv.", "~time"]
    unknown = f" (+{summary['seconds_unknown']} cells of unknown size)" if summary["seconds_unknown"] else ""
    workers = summary["workers"]
    return "\n".join([
        f"suite {summary['suite']}: {len(rows)} cells -> {summary['output']} (storage {summary['storage']})",
        tabulate(rows, headers=headers, tablefmt="github"),
        f"total: {summary['run_equivalents']} run-equivalents, about {_duration(summary['seconds'])} with "
        f"{workers} worker(s){unknown}: {_duration(summary['seconds_start'])} start-up and data, "
        f"{_duration(summary['seconds_work'])} of runs shared by the workers, "
        f"{_duration(summary['seconds_report'])} report.",
        *([_seed_line(summary["seeds"])] if "seeds" in summary else []),
        "A run-equivalent is one full training run; each trial counts as one per tuning seed (pruned trials "
        "stop early, so this is an upper bound). Time = run-equiv. x epochs x steps/epoch x seconds/step x step cost "
        f"({_step_costs()}; others x1); seconds/step is measured from finished runs of the dataset row, or, "
        f"where marked *, taken from the 2-core reference CPU ({_model_steps()}, {1000 * STEP_SECONDS:.1f} ms "
        f"for the small models; at batch 128, scaled with the batch), plus each run's start-up "
        f"({RUN_START_SECONDS:g} s) and evaluation. The total adds the process start-up "
        f"({PROCESS_START_SECONDS:g} s), building the data and the report (tables, claims, plots, theory).",
    ])


def _seed_line(design: dict[str, Any]) -> str:
    """How the seeds were fixed and what they can detect (the power rule, ``report.power``)."""
    how = (f"from the power rule effect_sd {design['effect_sd']:g}" if design["effect_sd"] is not None
           else "as listed")
    extra = f", plus {design['extra_seeds']} extra seeds on chosen cells" if design["extra_seeds"] else ""
    if math.isfinite(design["mde_sd"]):
        power = (f"a paired comparison on {design['n']} seeds detects {design['mde_sd']:.2f} paired sd "
                 f"(MDE at alpha {design['alpha']:g}, power {design['power']:g})")
    else:  # a t-test needs 2 pairs; below that no effect size is detectable
        power = f"{design['n']} seed(s) a cell cannot carry a paired comparison (it needs at least 2)"
    return (f"seeds: {design['n']} per cell {how}{extra}; {power}. "
            f"Tuning trials train on seed(s) {design['tuning_seeds']}, which no reported run uses.")


def format_summary(summary: dict[str, Any]) -> str:
    """One line per cell: tuning outcome, runs trained, mean last-epoch test balanced accuracy."""
    rows = []
    for cell in summary["cells"]:
        tests = [r["test"]["balanced_accuracy"] for r in cell["runs"] if r.get("test")]
        params = ", ".join(f"{k}={_short(v)}" for k, v in cell["tuned_params"].items()) or "-"
        rows.append([cell["cell"], cell["trials_finished"] if cell["study"] else "-",
                     "-" if cell["best_value"] is None else f"{cell['best_value']:.4f}", params,
                     _runs_done(cell["runs"]),
                     f"{100 * sum(tests) / len(tests):.2f}" if tests else "-"])
    headers = ["cell", "trials", f"best val {summary['metric']}", "tuned params", "runs done", "test bal. acc. %"]
    runs = [r for cell in summary["cells"] for r in cell["runs"]]
    missing = sum(r["status"] == "missing" for r in runs)
    state = "done" if not missing else f"{missing} of {len(runs)} runs still missing"
    return "\n".join([
        tabulate(rows, headers=headers, tablefmt="github"),
        f"{state}: {summary['trials_run']} trials and {summary['trained']} runs trained now, {summary['skipped']} "
        f"runs already done; {summary['seconds']:.0f}s with {summary['workers']} worker(s); results under "
        f"{summary['output']}",
    ])


def resolved_configs(path: str, only: str, overrides: list[str], out: str | None) -> str:
    """The resolved config of every cell matching ``only`` (first seed, untuned values), as YAML with its hash."""
    suite = with_overrides(load_suite(path), overrides, out)
    blocks = []
    for cell in expand(suite, only, "--print-config"):
        cfg = cell.config(suite.seeds[0], cell.first_trial)
        head = f"# {cell.name}: config hash {config_hash(cfg)}"
        if cell.space:
            head += f"; tuned: {', '.join(cell.space)} (shown at their untuned values)"
        blocks.append(head + "\n" + yaml.safe_dump(cfg, sort_keys=False).rstrip())
    return "\n\n".join(blocks)


def _runs_done(runs: list[dict[str, Any]]) -> str:
    """``done/all`` seeded runs of a cell, and how many of them this call trained."""
    done = sum(r["status"] != "missing" for r in runs)
    new = sum(r["trained"] for r in runs)
    return f"{done}/{len(runs)}" + (f" ({new} new)" if new else "")


def _step_costs() -> str:
    """The methods whose step costs more than plain cross-entropy (their ``step_cost``), by cost."""
    by_cost: dict[float, list[str]] = {}
    for name in METHODS.names():
        if (cost := catalog.method_step_cost(name)) != 1:
            by_cost.setdefault(cost, []).append(name)
    return "; ".join(f"x{cost:g}: {', '.join(names)}" for cost, names in sorted(by_cost.items(), reverse=True))


def _model_steps() -> str:
    measured = {name: catalog.model(name).step_seconds for name in MODELS.names()}
    return ", ".join(f"{name} {seconds:g} s" for name, seconds in measured.items() if seconds is not None)


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
