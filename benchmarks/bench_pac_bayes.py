"""What the PAC-Bayes bound (``train.pac_bayes``) costs on each row of the CPU suite.

Each row of ``benchmarks/cpu.yaml`` is trained once as the suite trains it (``--method``, default
``ce``; seed 0; one thread; untuned values) with ``train.pac_bayes: true``. The bound's seconds
(``pac_bayes.seconds``, timed inside the run) are set against the training's (the run's total
less the bound), so load on the machine blurs both alike. With ``--repeats R`` each row runs R
times and the medians are kept. Writes ``results/bench/pac_bayes_cost.json``. Usage:
``python benchmarks/bench_pac_bayes.py [--rows mnist1d_bal digits_bal] [--method ce] [--repeats 1]``
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
from pathlib import Path
from typing import Any

import torch

from lpg_meta.bench.cells import expand
from lpg_meta.bench.schema import load_suite
from lpg_meta.results import git_commit, write_json_atomic
from lpg_meta.train.trainer import train

OUT = Path("results/bench/pac_bayes_cost.json")
KEPT = ("bound", "kl", "sigma", "train_error", "mc_train_error", "mc_train_error_upper", "test_error", "n",
        "mc_samples")


def measure_row(cell: Any, repeats: int) -> dict[str, Any]:
    """The bound's and the training's seconds on one cell (medians over ``repeats``), and the bound."""
    runs = []
    for _ in range(repeats):
        cfg = cell.config(0, {})
        cfg["train"].update(pac_bayes=True, threads=1, progress="none")
        result = train(cfg)
        block = result["pac_bayes"]
        total = result["timing"]["seconds_total"]
        runs.append((block["seconds"], total - block["seconds"], block))
    bound_s = statistics.median(r[0] for r in runs)
    train_s = statistics.median(r[1] for r in runs)
    block = runs[0][2]
    same = all({k: r[2][k] for k in KEPT} == {k: block[k] for k in KEPT} for r in runs)
    return {"row": cell.dataset, "method": cell.method, "epochs": cfg["train"]["epochs"],
            "parameters": block["perturbed"]["parameters"], "bound_seconds": bound_s, "train_seconds": train_s,
            "share": bound_s / train_s, "reruns_identical": same, **{k: block[k] for k in KEPT}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="*", default=None, help="dataset rows (default: all)")
    parser.add_argument("--method", default="ce")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cells = [c for c in expand(load_suite("benchmarks/cpu.yaml")) if c.method == args.method
             and (args.rows is None or c.dataset in args.rows)]
    rows = []
    for cell in cells:
        rows.append(measure_row(cell, args.repeats))
        r = rows[-1]
        print(f"{r['row']:14s} train {r['train_seconds']:6.2f} s  bound {r['bound_seconds']:5.2f} s "
              f"({100 * r['share']:4.1f} %)  bound {r['bound']:.3f}  test error {r['test_error']:.3f}  "
              f"kl {r['kl']:.0f}  sigma {r['sigma']:.4g}  mc {r['mc_train_error']:.3f}", flush=True)
    out = {"method": args.method, "seed": 0, "repeats": args.repeats, "rows": rows,
           "max_share": max(r["share"] for r in rows),
           "machine": {"cpu": platform.processor() or platform.machine(), "threads": 1,
                       "load_average_1m": os.getloadavg()[0],
                       "note": "shared 2-core machine under load from other jobs: seconds are inflated; "
                               "the share compares the bound with the training of the same run"},
           "torch": torch.__version__, **git_commit()}
    write_json_atomic(OUT, out)
    print(f"wrote {OUT}; the bound's largest share of a run: {100 * out['max_share']:.1f} %")


if __name__ == "__main__":
    main()
