"""Start-up cost of the command line: process CPU time of short ``lpg-meta`` invocations.

Each command runs ``--repeats`` times in a fresh process; the record keeps the median of the
processes' CPU time (user + system, from ``os.wait4``), which depends less on other load than
wall time. ``import torch`` is measured alongside, as the floor of ``lpg-meta list`` (which
must import the registered methods, data sets and models, all built on torch). Writes
``results/bench/startup.json``.

Usage: ``python benchmarks/bench_startup.py [--repeats 5] [--out results/bench/startup.json]``
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from lpg_meta import __version__
from lpg_meta.results import git_commit, write_json_atomic

# The installed console script, as users run it; ``python -m`` where it is not installed.
SCRIPT = Path(sys.executable).with_name("lpg-meta")
CLI = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "lpg_meta.cli"]
COMMANDS: dict[str, list[str]] = {
    "import lpg_meta.errors": [sys.executable, "-c", "import lpg_meta.errors"],
    "lpg-meta --help": [*CLI, "--help"],
    "lpg-meta --version": [*CLI, "--version"],
    "lpg-meta list": [*CLI, "list"],
    "import torch": [sys.executable, "-c", "import torch"],
}


def cpu_seconds(argv: list[str]) -> float:
    """User + system CPU time of one run of ``argv`` (its output discarded)."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        error = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"{' '.join(argv)} failed: {error}")
    return usage.ru_utime + usage.ru_stime


def measure(repeats: int) -> dict[str, Any]:
    """Median and all samples of each command's CPU seconds; commands alternate run by run."""
    samples: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(repeats):
        for name, argv in COMMANDS.items():
            samples[name].append(cpu_seconds(argv))
    return {
        name: {"cpu_s_median": statistics.median(values), "cpu_s": values}
        for name, values in samples.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("results/bench/startup.json"))
    args = parser.parse_args()
    commands = measure(args.repeats)
    record = {
        "what": "process CPU time (user + system) of each command, median over repeats",
        "repeats": args.repeats,
        "lpg_meta": __version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "commands": commands,
    }
    write_json_atomic(args.out, record)
    width = max(map(len, commands))
    for name, row in commands.items():
        print(f"{name:<{width}}  {row['cpu_s_median']:.2f} s CPU")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
