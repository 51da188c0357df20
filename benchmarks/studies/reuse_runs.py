"""Copy finished runs of another suite whose resolved config equals a study's.

A run is the same run when its config hashes the same (``config_hash``): seeded training is
bit-identical on this code (checked on 15 digits runs of the CPU suite, lpg and ce: same metrics
and history). The runner then finds the copies finished and trains only the rest. Writes
``OUTPUT/reused.json``: for each copied cell, where it came from and the source suite's ``ce`` run
times of the same row and seeds (the copies were timed there, under that suite's load).

    python benchmarks/studies/reuse_runs.py STUDY.yaml FROM_OUTPUT --only 'mnist1d_*/lpg'
"""

from __future__ import annotations

import argparse
import fnmatch
import json
from pathlib import Path

from lpg_meta.bench.cells import expand
from lpg_meta.bench.schema import load_suite
from lpg_meta.results import RESULT_NAME, config_hash, write_json_atomic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", type=Path)
    parser.add_argument("source", type=Path, help="the other suite's output folder (read only)")
    parser.add_argument("--only", default="*", help="glob over DATASET/METHOD")
    args = parser.parse_args()
    suite = load_suite(args.suite)
    record_path = suite.output / "reused.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    for cell in expand(suite):
        if not fnmatch.fnmatchcase(cell.name, args.only):
            continue
        found, ce_seconds = {}, []
        seeds = suite.cell_seeds(cell.name)
        for seed in seeds:
            src = args.source / cell.dataset / cell.method / f"seed{seed}" / RESULT_NAME
            ce = args.source / cell.dataset / "ce" / f"seed{seed}" / RESULT_NAME
            if not (src.exists() and ce.exists()):
                continue
            result = json.loads(src.read_text())
            if config_hash(result["config"]) != config_hash(cell.config(seed)):
                continue
            found[seed] = result
            ce_seconds.append(json.loads(ce.read_text())["timing"]["seconds_total"])
        if list(found) != list(seeds):  # all seeds or none: one cell is timed under one load
            continue
        for seed, result in found.items():
            write_json_atomic(cell.run_dir(suite.output, seed) / RESULT_NAME, result)
        record[cell.name] = {"from": str(args.source / cell.dataset / cell.method), "seeds": list(found),
                             "ce_seconds": ce_seconds}
        print(f"{cell.name}: reused seeds {list(found)}")
    write_json_atomic(record_path, record)


if __name__ == "__main__":
    main()
