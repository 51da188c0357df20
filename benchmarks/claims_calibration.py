"""Calibration and power of the claims' decision rules on simulated suites shaped like a real one.

Reads a runs.csv (default: the committed CPU results), keeps its structure (rows, protocols,
methods, each cell's seeds, bit-identical cells, each row's paired spread) and runs the real
``lpg-meta claims`` rule (``report.claims.summarize``) on ``--suites`` simulated suites: under
the null (every method of a row equal) and with every LPG row better by each ``--effects``
(points) on every row. Writes the rates to results/bench/claims_calibration.json:

- family_any_non_null: share of families (a protocol and a claim) with any supported or
  contradicted comparison (Holm holds it at alpha under the null);
- protocol_non_null / protocol_supported: share of non-null / supported protocol verdicts;
- comparison_non_null / comparison_supported: share over single comparisons;
- mc_se_null: the Monte-Carlo standard error of a rate of alpha at the null's number of suites;
- null_pooled: the family rate averaged over the families, the protocol rate over the protocol claims.

    python benchmarks/claims_calibration.py [--runs results/cpu/runs.csv] [--null-suites 1000] [--suites 200]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lpg_meta.report.calibration import structure, verdict_rates  # noqa: E402
from lpg_meta.report.tidy import load_results  # noqa: E402
from lpg_meta.results import write_json_atomic  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default=str(ROOT / "results" / "cpu" / "runs.csv"))
    parser.add_argument("--suites", type=int, default=200, help="simulated suites per effect")
    parser.add_argument("--null-suites", type=int, default=1000,
                        help="simulated suites under the null (more: a rate near alpha needs a small MC error)")
    parser.add_argument("--effects", type=float, nargs="*", default=[2.0, 5.0], help="points added to LPG rows")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "results" / "bench" / "claims_calibration.json"))
    args = parser.parse_args(argv)
    shape = structure(load_results(args.runs))
    started = time.perf_counter()
    out = {"runs": str(Path(args.runs).resolve().relative_to(ROOT)) if Path(args.runs).resolve().is_relative_to(ROOT)
           else args.runs, "suites": args.suites, "alpha": 0.05,
           "null_suites": args.null_suites, "mc_se_null": math.sqrt(0.05 * 0.95 / args.null_suites),
           "row_sd_points": {ds: 100 * sd for ds, sd in shape.row_sd.items()},
           "null": verdict_rates(shape, args.null_suites, args.seed)}
    families = [k for k in out["null"] if not k.startswith("all/")]
    out["null_pooled"] = {
        "family_any_non_null": sum(out["null"][k]["family_any_non_null"] for k in families) / len(families),
        "protocol_non_null": sum(v["protocol_non_null"] for v in out["null"].values()) / len(out["null"])}
    for effect in args.effects:
        out[f"effect_{effect:g}_points"] = verdict_rates(shape, args.suites, args.seed + 1, effect / 100.0)
    out["seconds"] = time.perf_counter() - started
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(Path(args.out), out)
    null = out["null"]
    print(f"{args.null_suites} suites under the null: worst family rate "
          f"{max(v['family_any_non_null'] for v in null.values()):.3f}, worst protocol rate "
          f"{max(v['protocol_non_null'] for v in null.values()):.3f} (alpha 0.05, MC se {out['mc_se_null']:.3f})")
    for effect in args.effects:
        rates = out[f"effect_{effect:g}_points"]
        print(f"+{effect:g} points: " + ", ".join(f"{k} supported {v['protocol_supported']:.2f}"
                                                  for k, v in rates.items() if k.startswith("all/")))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
