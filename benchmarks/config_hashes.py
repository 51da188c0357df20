"""Print every cell's config hashes of the shipped suites, to check that a refactoring keeps them.

For each cell of ``smoke``, ``cpu``, ``sanity`` and ``cifar``: the ``config_hash`` of its run
config on every evaluation and tuning seed, a digest of the whole resolved config (its form,
not only its identity), and its tuning study's name. ``python benchmarks/config_hashes.py >
before.json`` on one commit, the same on another, then ``diff`` the two files.
"""

from __future__ import annotations

import hashlib
import json
import sys
from typing import Any

from lpg_meta.bench.cells import expand
from lpg_meta.bench.schema import load_suite
from lpg_meta.results import config_hash

SUITES = ("smoke", "cpu", "sanity", "cifar")


def suite_hashes(name: str) -> dict[str, Any]:
    """``cell name -> {seed: [config_hash, digest of the whole config]}, study``, for suite ``name``."""
    suite = load_suite(name)
    out: dict[str, Any] = {}
    for cell in expand(suite):
        seeds = sorted({*suite.cell_seeds(cell.name), *suite.tuning.seeds})
        runs = {}
        for seed in seeds:
            cfg = cell.config(seed, cell.first_trial)
            whole = hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:16]
            runs[str(seed)] = [config_hash(cfg), whole]
        out[cell.name] = {"runs": runs, "study": cell.study_name, "runs_study": cell.runs_study_name({})}
    return out


def main() -> None:
    json.dump({name: suite_hashes(name) for name in SUITES}, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
