"""``lpg-meta certify RESULTS``: an optimised PAC-Bayes certificate per finished run, in RESULTS/certificates.csv.

Runs are the folders RESULTS/ROW/METHOD/seedN holding a finished ``result.json``. Each run is
certified once per variant (``runs.VARIANTS``); the file is rewritten whole after each one (an
interrupted command leaves the last whole file), and a run already in it with the same recipe
and the same run config is not certified again, so the command resumes where it stopped; a run
trained again with another config since (a changed suite row) is certified again.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import multiprocessing
import re
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from lpg_meta.certify.recipe import VARIANTS, Recipe
from lpg_meta.errors import UserError, closest
from lpg_meta.results import CERTIFICATES_NAME, RESULT_NAME, config_hash, write_text_atomic

COLUMNS = ("row", "method", "seed", "variant", "certificate", "kl", "n", "mc_train_error", "mc_train_error_upper",
           "test_error_q", "test_error_w", "test_error_start", "train_error_w", "delta", "delta_mc", "weights",
           "rebuilt_accuracy_diff", "candidates", "candidates_blind", "seconds", "recipe", "config_hash")
# seconds: the whole run, rebuilding and learning a prior included;
# test_error_w: the run's recorded test error (its final weights); test_error_start: the network Q starts at (the
# same for variant init, the run trained on the prior's half for variant data); train_error_w: that start
# network's error on the n examples of the bound; candidates: the hyperparameter values the run's were chosen
# from, in the union bound where candidates_blind (``runs.tuning_candidates``); config_hash: the certified run's
# (``results.config_hash``), so a certificate is never kept for a run trained again since
TEST_DRAWS = 100  # weight draws for Q's test error (a record, not part of the certificate)
SEED_DIR = re.compile(r"seed(\d+)$")


def add_certify_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``certify RESULTS [--methods] [--rows] [--seeds] [--variants] [--steps] [--mc-draws]``."""
    default = Recipe()
    parser = subparsers.add_parser(
        "certify", help="optimised PAC-Bayes certificates of finished runs (RESULTS/certificates.csv)",
        description="For each finished run under RESULTS (ROW/METHOD/seedN/result.json): optimise a diagonal "
                    "Gaussian posterior from its final weights against a prior at its initial weights (variant "
                    "init) or learned on half of its training set (variant data), and write the certificate on "
                    "its 0-1 error to RESULTS/certificates.csv. Runs without saved weights (train.save_model) are "
                    "trained again from their recorded config. Resumes: certified runs are skipped.")
    parser.add_argument("results", help="results folder of a suite (e.g. results/cpu)")
    parser.add_argument("--methods", nargs="+", default=None, metavar="METHOD", help="method rows (default: all)")
    parser.add_argument("--rows", nargs="+", default=None, metavar="ROW", help="data set rows (default: all)")
    parser.add_argument("--seeds", nargs="+", type=int, default=None, metavar="SEED", help="seeds (default: all)")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=["init"],
                        help="prior centres: init (initial weights), data (learned on half the training set) "
                             "(default: init)")
    parser.add_argument("--steps", type=int, default=default.steps,
                        help=f"optimisation steps a run; 0 certifies Q at its start (default {default.steps})")
    parser.add_argument("--lr", type=float, default=default.lr, help=f"SGD learning rate (default {default.lr})")
    parser.add_argument("--mc-draws", type=int, default=default.mc_draws,
                        help=f"weight draws of the final evaluation (default {default.mc_draws})")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads of each process (default 1)")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes certifying runs at once; one writes the CSV (default 1)")
    return parser


def find_runs(root: Path, rows: list[str] | None, methods: list[str] | None,
              seeds: list[int] | None) -> list[tuple[str, str, int, Path]]:
    """(row, method, seed, folder) of every run under ``root`` that the filters keep; bad filters raise."""
    if not root.is_dir():
        raise UserError(f"results folder {root} does not exist; give the folder a suite wrote, e.g. results/cpu.")
    found = []
    for result in sorted(root.glob(f"*/*/seed*/{RESULT_NAME}")):
        match = SEED_DIR.match(result.parent.name)
        if match:
            found.append((result.parent.parent.parent.name, result.parent.parent.name, int(match[1]), result.parent))
    if not found:
        raise UserError(f"no run under {root} (expected ROW/METHOD/seedN/{RESULT_NAME}).")
    filters = (("--rows", rows, {f[0] for f in found}), ("--methods", methods, {f[1] for f in found}),
               ("--seeds", seeds, {f[2] for f in found}))
    for flag, wanted, present in filters:
        for name in wanted or []:
            if name not in present:
                hint = closest(str(name), [str(p) for p in present]) if not isinstance(name, int) else ""
                raise UserError(f"{flag}: no run of {name!r} under {root}.{hint} Present: "
                                f"{', '.join(str(p) for p in sorted(present))}.")
    return [f for f in found if (rows is None or f[0] in rows) and (methods is None or f[1] in methods)
            and (seeds is None or f[2] in seeds)]


def read_certificates(path: Path) -> list[dict[str, str]]:
    """The rows of an existing certificates.csv (none if absent)."""
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def write_certificates(path: Path, rows: list[dict[str, Any]]) -> None:
    """The whole file, rows in (row, method, seed, variant) order whatever order they finished in."""
    rows = sorted(rows, key=lambda r: (r["row"], r["method"], int(r["seed"]), r["variant"]))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(path, buffer.getvalue())


def run_config_hash(folder: Path) -> str:
    """The config hash of the finished run in ``folder`` (a clear error where it is not one)."""
    from lpg_meta.certify.runs import read_result

    return config_hash(read_result(folder)["config"])


def recipe_key(recipe: Recipe) -> str:
    return hashlib.sha256(json.dumps(recipe.as_dict(), sort_keys=True).encode()).hexdigest()[:12]


def certify_run(folder: Path, variant: str, recipe: Recipe) -> dict[str, Any]:
    """One run's certificate record (the CSV's columns but the run's names)."""
    from lpg_meta.certify.posterior import Certifier
    from lpg_meta.certify.runs import prior_from_part, run_network, split_for_prior, tuning_candidates

    net = run_network(folder, weights=variant == "init")  # the data variant never uses the run's weights
    seed, bundle = net.result["seed"], net.bundle
    candidates, blind = tuning_candidates(folder, net.result)
    covered = candidates if blind else 1  # guided trials depend on the data: no union bound covers them
    x, y = bundle.prepare(bundle.train.x), bundle.train.y
    if variant == "data":  # Q starts at the prior mean: see ``runs``
        prior_idx, bound_idx = split_for_prior(len(y), seed)
        prior, predict = prior_from_part(net, prior_idx)
        certifier = Certifier(net.model, prior, prior, x[bound_idx], y[bound_idx], predict, covered)
    else:
        assert net.final is not None and net.initial is not None
        certifier = Certifier(net.model, net.final, net.initial, x, y, net.predict, covered)
    record = certifier.certify(recipe, seed)
    test_x, test_y = bundle.prepare(bundle.test.x), bundle.test.y
    return {**record, "test_error_q": certifier.test_error(test_x, test_y, TEST_DRAWS, seed),
            "test_error_w": 1.0 - net.result["metrics"]["test"]["accuracy"],
            "test_error_start": certifier.error_at(certifier.start, test_x, test_y), "weights": net.weights,
            "rebuilt_accuracy_diff": "" if net.rebuilt_accuracy_diff is None else net.rebuilt_accuracy_diff,
            "candidates": candidates, "candidates_blind": blind}


def _certify_timed(job: tuple[Path, str, Recipe, int]) -> tuple[dict[str, Any], float]:
    """One run's record and its seconds, in whichever process runs it, with its threads set there."""
    import torch  # here, not at start: a mistake in the arguments is reported before torch loads

    folder, variant, recipe, threads = job
    torch.set_num_threads(threads)
    started = time.perf_counter()
    record = certify_run(folder, variant, recipe)
    return record, time.perf_counter() - started


def _finished(todo: list[tuple[str, str, int, Path, str]], recipe: Recipe, threads: int,
              workers: int) -> Iterator[tuple[int, dict[str, Any], float]]:
    """(index into ``todo``, record, seconds) of each run as it finishes: in this process, or in
    ``workers`` spawned ones (fork would copy torch's threads and locks)."""
    jobs = [(folder, variant, recipe, threads) for _, _, _, folder, variant in todo]
    if workers == 1:
        for i, job in enumerate(jobs):
            yield (i, *_certify_timed(job))
        return
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        futures = {pool.submit(_certify_timed, job): i for i, job in enumerate(jobs)}
        for future in as_completed(futures):
            yield (futures[future], *future.result())
    finally:  # on an error, the runs not yet started are not started
        pool.shutdown(wait=True, cancel_futures=True)


def cmd_certify(args: argparse.Namespace) -> int:
    if args.steps < 0:
        raise UserError(f"--steps must be at least 0 (0: Q stays at its start), got {args.steps}.")
    for flag, value in (("--mc-draws", args.mc_draws), ("--threads", args.threads), ("--workers", args.workers)):
        if value < 1:
            raise UserError(f"{flag} must be at least 1, got {value}.")
    if not args.lr > 0:
        raise UserError(f"--lr must be positive, got {args.lr}.")
    root = Path(args.results)
    runs = find_runs(root, args.rows, args.methods, args.seeds)
    recipe = Recipe(steps=args.steps, lr=args.lr, mc_draws=args.mc_draws)
    key = recipe_key(recipe)
    path = root / CERTIFICATES_NAME
    rows = read_certificates(path)
    # a row without its tuning candidates predates their union bound, one without the run's config hash
    # predates that check: both certified again, as is a run whose config changed since
    done = {(r["row"], r["method"], r["seed"], r["variant"]): r["config_hash"] for r in rows
            if r.get("recipe") == key and r.get("candidates") and r.get("config_hash")}
    hashes = {f: run_config_hash(f) for _, _, _, f in runs}
    todo = [(r, m, s, f, v) for r, m, s, f in runs for v in args.variants
            if done.get((r, m, str(s), v)) != hashes[f]]
    print(f"lpg-meta certify: {len(todo)} to certify ({len(runs) * len(args.variants) - len(todo)} already in "
          f"{path})", file=sys.stderr, flush=True)
    for done_count, (index, record, seconds) in enumerate(_finished(todo, recipe, args.threads, args.workers), 1):
        row, method, seed, folder, variant = todo[index]
        new = {**record, "seconds": seconds, "row": row, "method": method, "seed": seed, "variant": variant,
               "recipe": key, "config_hash": hashes[folder]}
        this = (row, method, str(seed), variant)
        rows = [r for r in rows if (r["row"], r["method"], str(r["seed"]), r["variant"]) != this] + [new]
        write_certificates(path, rows)
        print(f"[{done_count}/{len(todo)}] {row}/{method} seed {seed} {variant}: certificate {new['certificate']:.4f} "
              f"(KL {new['kl']:.1f}, n {new['n']}, train error under Q {new['mc_train_error']:.4f}, test error "
              f"under Q {new['test_error_q']:.4f}; {new['seconds']:.0f} s)", file=sys.stderr, flush=True)
    print(f"wrote {path}", file=sys.stderr)
    return 0
