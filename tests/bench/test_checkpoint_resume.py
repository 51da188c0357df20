"""A suite worker SIGKILLed mid-run: the next worker finishes the unit from its checkpoint."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml
from suite_kit import tiny_suite

from lpg_meta.bench import run_suite

SLOW_CHILDREN = Path(__file__).with_name("slow_children")
SUITE = {**tiny_suite("cr", epochs=3), "methods": {"ce": {}}, "seeds": [0]}
# Every epoch's checkpoint written (no budget skip), so the kill after epoch 2 has one to resume.
SUITE["defaults"] = {**SUITE["defaults"], "train": {**SUITE["defaults"]["train"], "checkpoint_budget": None}}
RUN = Path("lt/ce/seed0")


def write_suite(folder):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump({**SUITE, "output": str(folder / "out")}, sort_keys=False))
    return path


def test_killed_worker_unit_continues_from_its_checkpoint(tmp_path):
    run_suite(write_suite(tmp_path / "reference"))
    reference = json.loads((tmp_path / "reference" / "out" / RUN / "result.json").read_text())

    path = write_suite(tmp_path / "killed")
    run_dir = tmp_path / "killed" / "out" / RUN
    # slow_children/sitecustomize.py pauses 1 s after each epoch (after its checkpoint)
    env = {**os.environ, "LPG_TEST_SLOW_S": "1",
           "PYTHONPATH": os.pathsep.join([str(SLOW_CHILDREN), *filter(None, [os.environ.get("PYTHONPATH")])])}
    with open(tmp_path / "worker.log", "w") as log:
        worker = subprocess.Popen([sys.executable, "-m", "lpg_meta.cli", "run", str(path)], env=env,
                                  stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while "epoch 2/3" not in ((run_dir / "train.log").read_text() if (run_dir / "train.log").exists() else ""):
            assert worker.poll() is None and time.monotonic() < deadline, (tmp_path / "worker.log").read_text()
            time.sleep(0.02)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
    assert (run_dir / "checkpoint.pt").exists() and not (run_dir / "result.json").exists()

    run_suite(path)  # another worker: the storage hands it the dead worker's unit
    log = (run_dir / "train.log").read_text()
    assert "resuming from" in log and "2 of 3 epochs done" in log, log
    assert log.count("epoch 1/3") == 1 and log.count("epoch 3/3") == 1, log  # no epoch trained twice
    result = json.loads((run_dir / "result.json").read_text())
    assert result["metrics"] == reference["metrics"] and result["history"] == reference["history"]
    assert sorted(p.name for p in run_dir.iterdir()) == ["result.json", "train.log"]
