"""The README, the Makefile and the suite headers quote the same measured suite times as the benchmark record."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_document_quotes_the_recorded_measurements() -> None:
    record = json.loads((ROOT / "results/bench/dry_run_estimate.json").read_text())
    cpu = f"{record['cpu']['measured_make_seconds_with_install']:,.0f} s"
    smoke = f"{record['smoke']['measured_seconds']:.0f} s"
    runner = f"{record['cpu']['measured_runner_seconds']:,.0f} s"
    readme, makefile = (ROOT / "README.md").read_text(), (ROOT / "Makefile").read_text()
    cpu_yaml, smoke_yaml = ((ROOT / "benchmarks" / f"{n}.yaml").read_text() for n in ("cpu", "smoke"))
    for name, text in (("README.md", readme), ("Makefile", makefile), ("cpu.yaml", cpu_yaml)):
        assert cpu in " ".join(text.replace("#", " ").split()), f"{name} does not quote {cpu}"
    assert runner in " ".join(cpu_yaml.replace("#", " ").split()) and runner in readme
    for name, text in (("README.md", readme), ("smoke.yaml", smoke_yaml)):
        assert smoke in text, f"{name} does not quote {smoke}"
    # The dry run's own figures as the headers quote them.
    estimate = f"{record['cpu']['estimate']['seconds']:,.0f} s"
    assert estimate in " ".join(cpu_yaml.replace("#", " ").split()) and estimate in readme
    for stale in ("about an hour", "under 3 minutes", "~25 s", "about 20 minutes"):
        assert all(stale not in t for t in (readme, makefile, cpu_yaml, smoke_yaml)), stale
