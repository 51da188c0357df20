"""What one more tuning trial costs per row of a finished suite.

For each dataset row: the sum over its tuned cells of the median wall time of one of the cell's
seeded runs (a trial is one such run on the first seed; pruned trials cost less, so this is an
upper bound), read from ``result.json`` files (``timing.seconds_total``, measured under whatever
load the suite ran with). Meta-learned cells (those that record ``time_meta_s``) are also shown
with their meta-step time scaled by ``--meta-scale`` (e.g. 0.1 for a meta step every 10th step
instead of every step). Writes STEM.json and STEM.md.

    python benchmarks/studies/trial_cost.py /work/main/results/cpu benchmarks/cpu.yaml \
        --out results/studies/tuning_budget/trial_cost --meta-scale 0.1
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from lpg_meta.bench.cells import expand
from lpg_meta.bench.schema import load_suite


def run_seconds(result: dict, meta_scale: float) -> tuple[float, float]:
    """(seconds as run, seconds with the meta-step time scaled by ``meta_scale``)."""
    total = result["timing"]["seconds_total"]
    # the method's own record (its key is the method family: "lpg" for lpg_scale and lpg+gce)
    meta = next((v["time_meta_s"] for v in result.values() if isinstance(v, dict) and "time_meta_s" in v), None)
    return total, total if meta is None else total - meta * (1 - meta_scale)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("suite", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--meta-scale", type=float, default=0.1)
    args = parser.parse_args()
    suite = load_suite(args.suite)
    rows: dict[str, dict] = {}
    for cell in expand(suite):
        if not cell.space:
            continue
        found = [json.loads(p.read_text()) for p in sorted((args.results / cell.dataset / cell.method).glob(
            "seed*/result.json"))]
        if not found:
            continue
        times = [run_seconds(r, args.meta_scale) for r in found]
        row = rows.setdefault(cell.dataset, {"cells": 0, "trial_s": 0.0, "trial_s_scaled": 0.0})
        row["cells"] += 1
        row["trial_s"] += statistics.median(t for t, _ in times)
        row["trial_s_scaled"] += statistics.median(s for _, s in times)
    out = {"results": str(args.results), "meta_scale": args.meta_scale, "rows": rows,
           "total_trial_s": sum(r["trial_s"] for r in rows.values()),
           "total_trial_s_scaled": sum(r["trial_s_scaled"] for r in rows.values())}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(out, indent=1) + "\n")
    lines = ["# One more tuning trial per cell: cost per row", "",
             f"From {args.results} ({args.suite}); seconds of one run per tuned cell, summed over the row's tuned "
             f"cells (1 worker; halve for 2 workers). 'Scaled': meta-step time x {args.meta_scale}.", "",
             "| row | tuned cells | one trial each (s) | scaled (s) |", "|---|---|---|---|"]
    lines += [f"| {name} | {r['cells']} | {r['trial_s']:.0f} | {r['trial_s_scaled']:.0f} |" for name, r in rows.items()]
    lines += [f"| all | {sum(r['cells'] for r in rows.values())} | {out['total_trial_s']:.0f} | "
              f"{out['total_trial_s_scaled']:.0f} |"]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
