"""What an optimised certificate (``lpg-meta certify``) costs per run, and what it gives.

Certifies the runs of a results folder (``--rows``, ``--methods``, ``--seeds`` as in the command;
one thread) and records, per run and variant, the seconds (loading or rebuilding the run, learning
a data-dependent prior, optimising, the Monte-Carlo evaluation and Q's test error), the certificate,
its KL, n and the errors. The runs may come from any suite; for the CPU rows train, e.g., a suite of
``benchmarks/cpu.yaml``'s rows with ``train.save_model: true``. Writes ``results/bench/certify_cost.json``
(``--out``). Usage:
``python benchmarks/bench_certify.py RESULTS [--rows ...] [--methods ...] [--seeds ...] [--variants init data]
[--steps N]``
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import time
from pathlib import Path

import torch

from lpg_meta.certify.command import certify_run, find_runs
from lpg_meta.certify.recipe import VARIANTS, Recipe
from lpg_meta.results import git_commit, write_json_atomic

OUT = Path("results/bench/certify_cost.json")
KEPT = ("certificate", "kl", "n", "kl_term", "mc_train_error", "mc_train_error_upper", "train_error_w",
        "test_error_q", "test_error_w", "test_error_start", "weights", "rebuilt_accuracy_diff", "distance_to_prior",
        "posterior_sigma_median", "candidates")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results")
    parser.add_argument("--rows", nargs="+", default=None)
    parser.add_argument("--methods", nargs="+", default=None)
    parser.add_argument("--seeds", nargs="+", type=int, default=None)
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=["init"])
    parser.add_argument("--steps", type=int, default=Recipe.steps)
    parser.add_argument("--mc-draws", type=int, default=Recipe.mc_draws)
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args()
    torch.set_num_threads(1)
    recipe = Recipe(steps=args.steps, mc_draws=args.mc_draws)
    rows = []
    for row, method, seed, folder in find_runs(Path(args.results), args.rows, args.methods, args.seeds):
        for variant in args.variants:
            started = time.perf_counter()
            record = certify_run(folder, variant, recipe)
            rows.append({"row": row, "method": method, "seed": seed, "variant": variant,
                         "seconds": time.perf_counter() - started, "optimise_and_evaluate_seconds": record["seconds"],
                         **{k: record[k] for k in KEPT}})
            r = rows[-1]
            print(f"{row}/{method} seed {seed} {variant}: certificate {r['certificate']:.4f} KL {r['kl']:.1f} "
                  f"n {r['n']} train error under Q {r['mc_train_error']:.4f} test error under Q "
                  f"{r['test_error_q']:.4f} (w: {r['test_error_w']:.4f}) {r['seconds']:.0f} s", flush=True)
    out = {"recipe": dataclasses.asdict(recipe), "rows": rows,
           "machine": {"cpu": platform.processor() or platform.machine(), "threads": 1,
                       "load_average_1m": os.getloadavg()[0]},
           "torch": torch.__version__, **git_commit()}
    write_json_atomic(Path(args.out), out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
