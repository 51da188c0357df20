"""How often a second run of the suite's design would print the same verdicts, by number of seeds.

Takes a runs.csv (default: the committed CPU results) as the truth: every cell centred on its real
mean, each row's real seed spread (``report.calibration``). Per number of seeds, ``--trials`` pairs
of independent suites go through the real ``lpg-meta claims`` rule, and the share of counted
comparison verdicts (and of protocol verdicts) that agree between the two is recorded in
results/bench/verdict_replication.json. A second machine (other kernels) parts the trajectories
from the first epochs on (benchmarks/cpu_regimes.md, section 6) but keeps the data splits and
initialisations, so its agreement should be at or above this independent-replication figure.

    python benchmarks/verdict_replication.py [--runs results/cpu/runs.csv] [--seeds 6 12 18] [--trials 100]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lpg_meta.report.calibration import cell_means, replication_agreement, structure, with_seeds  # noqa: E402
from lpg_meta.report.tidy import load_results  # noqa: E402
from lpg_meta.results import cpu_info, write_json_atomic  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default=str(ROOT / "results" / "cpu" / "runs.csv"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[6, 12, 18], help="seeds a cell, per design")
    parser.add_argument("--trials", type=int, default=100, help="pairs of simulated suites per design")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "results" / "bench" / "verdict_replication.json"))
    args = parser.parse_args(argv)
    runs = Path(args.runs).resolve()
    results = load_results(runs)
    shape = structure(results)
    means = cell_means(results, shape)
    started = time.perf_counter()
    designs = {}
    for n in args.seeds:
        designs[str(n)] = replication_agreement(with_seeds(shape, n), means, args.trials, args.seed)
        print(f"{n} seeds: {designs[str(n)]}", flush=True)
    write_json_atomic(Path(args.out), {
        "runs": str(runs.relative_to(ROOT)) if runs.is_relative_to(ROOT) else str(runs), "trials": args.trials,
        "truth": "each cell's real mean, each row's real spread",
        "row_sd_points": {ds: 100 * sd for ds, sd in shape.row_sd.items()}, "by_seeds": designs,
        "seconds": time.perf_counter() - started, "cpu": cpu_info()})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
