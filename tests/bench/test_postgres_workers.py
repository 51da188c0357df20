"""Three ``lpg-meta run`` processes on one PostgreSQL storage: every unit runs exactly once."""

import copy
import json
import re
import subprocess
import sys
from collections import Counter

import optuna
import yaml
from suite_kit import tiny_suite

from lpg_meta.bench import run_suite, storage
from lpg_meta.bench.layout import suite_spec
from lpg_meta.report import leaderboard

SUITE = tiny_suite("pg", epochs=2)
RUN_LINE = re.compile(r"\] (\S+) seed (\d+) (ok|diverged) \(")
TRIAL_LINE = re.compile(r"\] (\S+) trial (\d+) ")


def write(folder, data):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump({**data, "output": str(folder / "out")}, sort_keys=False))
    return path


def test_three_workers_on_postgres_run_each_unit_once(postgres_url, tmp_path):
    path = write(tmp_path / "dist", SUITE)
    cmd = [sys.executable, "-m", "lpg_meta.cli", "run", str(path), "--storage", postgres_url]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, out + err
    logs = "".join(err for _, err in outputs)

    # Every unit trained once, summed over the three workers' progress lines.
    assert sorted(Counter(RUN_LINE.findall(logs)).values()) == [1] * 4
    assert sorted(Counter((c, s) for c, s, _ in RUN_LINE.findall(logs))) == [
        (c, s) for c in ("lt/ce", "lt/lpg_scale") for s in ("0", "1")]
    assert sorted(Counter(TRIAL_LINE.findall(logs)).values()) == [1, 1]
    out = tmp_path / "dist" / "out"
    assert len(list((out / "lt/lpg_scale/tuning").glob("trial*.log"))) == 2

    # And in the storage: the budget exactly, one finished trial per seed, nothing left running.
    db = storage.open_storage(postgres_url)  # also checks that a bare postgresql:// opens
    names = optuna.get_all_study_names(db)
    assert len(names) == 3  # lpg_scale's tuning study and the two cells' runs studies
    tuned = None
    for name in names:
        trials = optuna.load_study(study_name=name, storage=db).get_trials()
        states = Counter(t.state.name for t in trials)
        assert not states["RUNNING"] and not states["WAITING"], (name, states)
        given_up = {t.user_attrs.get("reason") for t in trials if t.state.name == "FAIL"}
        assert given_up <= {"surplus", "duplicate", "empty"}, name  # never trained
        if name.endswith(".runs"):
            seeds = Counter(t.user_attrs["seed"] for t in trials if t.state.name == "COMPLETE")
            assert seeds == {0: 1, 1: 1}, name
            assert not any(t.user_attrs.get("skipped") for t in trials), name
        else:
            assert states["COMPLETE"] == 2, states
            tuned = optuna.load_study(study_name=name, storage=db).best_params
    result = json.loads((out / "lt/lpg_scale/seed0/result.json").read_text())
    assert result["suite"]["tuned_params"] == tuned

    # The tables equal a one-worker run with the same parameters fixed (no tuning).
    fixed = copy.deepcopy(SUITE)
    fixed["methods"]["lpg_scale"] = {"params": {"meta_batch_size": 20, **tuned}, "tune": False}
    alone_path = write(tmp_path / "alone", fixed)
    alone = run_suite(alone_path)
    assert alone["trained"] == 4 and alone["trials_run"] == 0
    spec = suite_spec(alone_path)  # the same layout for both (a CLI run also leaves it in out/runs.json)
    for fmt in ("md", "csv"):
        assert leaderboard(out, fmt, spec=spec) == leaderboard(tmp_path / "alone" / "out", fmt, spec=spec)
    for seed_dir in ("lt/ce/seed0", "lt/lpg_scale/seed1"):
        a = json.loads((out / seed_dir / "result.json").read_text())
        b = json.loads((tmp_path / "alone/out" / seed_dir / "result.json").read_text())
        assert a["metrics"] == b["metrics"] and a["config"] == b["config"]
