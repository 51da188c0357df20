"""The dry run's estimate against measured suite times: smoke.yaml and cpu.yaml.

For each suite the estimate is ``lpg-meta run SUITE --dry-run`` on an empty output folder (all
work left), with the workers the measurement used. The measurements, on the 2-core AMD EPYC with
AVX2 only (the machine the estimate's constants are fitted to):

- cpu.yaml: ``make reproduce`` from a fresh clone, 2 workers (``results/cpu/RUN.md``: 4,763 s from
  ``make`` to exit with the install check, 4,681 s reported by the runner), with lower-priority
  jobs beside it. Given as constants; it is not re-run here (80 minutes).
- smoke.yaml: 22 s wall (22 s of CPU), 1 worker, measured by this script's first run after the
  retrain; and this machine now: ``lpg-meta run smoke`` in a fresh folder, wall time and CPU time
  (user + system of the process, which depends less on other load) with the load average before
  and after (``--no-measure`` skips it).

Writes ``results/bench/dry_run_estimate.json``; the estimate's constants live in
``lpg_meta/bench/estimate.py``.

Usage: ``python benchmarks/bench_dry_run.py [--no-measure] [--out results/bench/dry_run_estimate.json]``
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lpg_meta import __version__
from lpg_meta.bench import estimate, run_suite
from lpg_meta.results import git_commit, write_json_atomic

CPU_RUNNER_SECONDS = 4681.0  # results/cpu/RUN.md: the runner's own time, 2 workers, 2-core AVX2 machine
CPU_MAKE_SECONDS = 4763.0  # the same run from `make` to exit, the install check included
SMOKE_SECONDS = 22.0  # smoke.yaml, 1 worker, the same machine (22 s of CPU time: it was not waiting)


def estimated(suite: str, workers: int) -> dict[str, Any]:
    """The dry run of ``suite`` with everything left to do."""
    with tempfile.TemporaryDirectory() as folder:
        summary = run_suite(suite, workers=workers, dry_run=True, out=Path(folder) / "out")
    return {key: round(summary[key], 1) for key in ("seconds", "seconds_start", "seconds_work", "seconds_report")} | {
        "workers": workers, "run_equivalents": summary["run_equivalents"]}


def fitted_constants() -> dict[str, float]:
    """``STEP_SECONDS`` and ``RUN_START_SECONDS`` that make the dry run give the measured suite times.

    The estimate is linear in the two constants, so three dry runs per suite give its coefficients
    and a 2 x 2 system gives the constants that fit both suites exactly. A negative start-up has no
    meaning; where the exact fit gives one, the start-up is 0 and the step time fits cpu.yaml alone
    (the larger suite: its time is mostly steps), and the smoke suite's ratio says how far off it is.
    """
    saved = estimate.STEP_SECONDS, estimate.RUN_START_SECONDS
    rows = []
    try:
        for suite, workers, measured in (("smoke", 1, SMOKE_SECONDS), ("cpu", 2, CPU_RUNNER_SECONDS)):
            values = []
            for step, start in ((0.0, 0.0), (1.0, 0.0), (0.0, 1.0)):
                estimate.STEP_SECONDS, estimate.RUN_START_SECONDS = step, start
                values.append(estimated(suite, workers)["seconds"])
            rows.append((values[1] - values[0], values[2] - values[0], measured - values[0]))
    finally:
        estimate.STEP_SECONDS, estimate.RUN_START_SECONDS = saved
    (a, b, y), (c, d, z) = rows
    det = a * d - b * c
    exact = {"STEP_SECONDS": (y * d - b * z) / det, "RUN_START_SECONDS": (a * z - y * c) / det}
    if exact["RUN_START_SECONDS"] >= 0:
        return exact
    return {"STEP_SECONDS": z / c, "RUN_START_SECONDS": 0.0, "exact_fit_RUN_START_SECONDS": exact["RUN_START_SECONDS"]}


def measured_smoke() -> dict[str, Any]:
    """Run smoke.yaml once in a fresh folder; wall and CPU seconds, load before and after."""
    with tempfile.TemporaryDirectory() as folder:
        load_before = os.getloadavg()
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "lpg_meta.cli", "run", "smoke", "--out", folder],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        err = proc.stderr.read() if proc.stderr else ""
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"smoke run failed: {err[-2000:]}")
    return {"wall_seconds": round(wall, 1), "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()], "cores": os.cpu_count()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="results/bench/dry_run_estimate.json")
    parser.add_argument("--no-measure", action="store_true", help="skip running smoke.yaml here")
    parser.add_argument("--fit", action="store_true",
                        help="print the step and run start-up constants that fit both measured times, then stop")
    args = parser.parse_args()
    if args.fit:
        for name, value in fitted_constants().items():
            print(f"{name} = {value:.6g}")
        return
    smoke, cpu = estimated("smoke", 1), estimated("cpu", 2)
    record: dict[str, Any] = {
        "version": __version__, "commit": git_commit(), "machine": platform.processor() or platform.machine(),
        "constants": {name: getattr(estimate, name) for name in (
            "STEP_SECONDS", "RUN_START_SECONDS", "PROCESS_START_SECONDS", "EVAL_COST", "REPORT_SECONDS",
            "REPORT_SECONDS_PER_RUN")},
        "smoke": {"estimate": smoke, "measured_seconds": SMOKE_SECONDS,
                  "ratio_estimate_to_measured": round(smoke["seconds"] / SMOKE_SECONDS, 3)},
        "cpu": {"estimate": cpu, "measured_runner_seconds": CPU_RUNNER_SECONDS,
                "measured_make_seconds_with_install": CPU_MAKE_SECONDS,
                "ratio_estimate_to_runner": round(cpu["seconds"] / CPU_RUNNER_SECONDS, 3),
                "ratio_estimate_to_make": round(cpu["seconds"] / CPU_MAKE_SECONDS, 3)},
    }
    if not args.no_measure:
        here = measured_smoke()
        here["ratio_estimate_to_wall"] = round(smoke["seconds"] / here["wall_seconds"], 3)
        here["ratio_estimate_to_cpu"] = round(smoke["seconds"] / here["cpu_seconds"], 3)
        record["smoke"]["measured_here"] = here
    write_json_atomic(Path(args.out), record)
    here_text = "" if args.no_measure else f", here {here['wall_seconds']:.0f}s wall / {here['cpu_seconds']:.0f}s CPU"
    print(f"smoke: estimate {smoke['seconds']:.0f}s, measured {SMOKE_SECONDS:.0f}s{here_text}")
    print(f"cpu (2 workers): estimate {cpu['seconds']:.0f}s, measured {CPU_RUNNER_SECONDS:.0f}s (runner)")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
