"""The timing scripts under benchmarks/ run end to end and write well-formed JSON (no timing asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_bench_meta_step_writes_one_record_per_configuration(tmp_path: Path) -> None:
    out = tmp_path / "meta_step.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_meta_step.py"), "--only", "cnn1d"]
    cmd += ["--methods", "lpg", "mwnet", "--backends", "jvp", "--intervals", "1"]
    cmd += ["--blocks", "2", "--warmup", "1", "--meta-batch", "32", "--out", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    records = json.loads(out.read_text())
    keys = [(r["method"], r["backend"]) for r in records]
    assert keys == [("ce", None), ("floor", None), ("lpg", "jvp"), ("mwnet", "jvp")]
    for rec in records:
        assert rec["model"] == "cnn1d" and rec["batch_size"] == 128
        assert rec["meta_batch_size"] == (None if rec["method"] == "ce" else 32)
        assert rec["step_seconds"] > 0 and rec["peak_mb"] > 0 and rec["provenance"]["torch"]
    for rec in records:  # each timed in alternation with a ce model in its own process
        assert len(rec["step_seconds_all"]) == len(rec["ce_step_seconds_all"]) == 2
        times, ce_times = rec["step_seconds_all"], rec["ce_step_seconds_all"]
        ratios = [t / c for t, c in zip(times, ce_times, strict=True)]
        assert rec["ratio_to_ce"] == pytest.approx(sum(ratios) / 2)  # the median of two rounds


def test_bench_checkpoint_measures_resnet32_and_a_cpu_row(tmp_path: Path) -> None:
    out = tmp_path / "checkpoint.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_checkpoint.py"), "--steps", "1", "--writes", "1",
           "--net-method", "ce", "--methods", "ce", "--out", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    record = json.loads(out.read_text())
    net = record["resnet32"]
    assert net["method"] == "ce" and net["checkpoint_bytes"] > 4 * 464_154  # resnet32's float32 weights, momentum
    assert net["overhead_one_write_per_epoch"] == pytest.approx(net["write_seconds"] / (391 * net["step_seconds"]))
    (row,) = record["cpu_rows"]
    assert (row["row"], row["method"], row["epochs"]) == ("mnist1d_bal", "ce", 15)
    assert row["none"]["checkpoints"] == 0 and row["every_epoch"]["checkpoints"] == 15
    assert row["default"]["checkpoints"] <= 15  # how many the budget lets through depends on the machine
    for run in ("none", "default", "every_epoch"):
        assert row[run]["overhead"] == pytest.approx(row[run]["seconds_checkpointing"] / row[run]["seconds_total"])


def test_diag_collapse_records_steps_epochs_and_a(tmp_path: Path) -> None:
    out = tmp_path / "diag.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "diag_collapse.py"),
           "--suite", str(ROOT / "benchmarks" / "smoke.yaml"),
           "--cell", "balanced/lpg", "--seed", "0", "--set", "eps=0.5", "--set", "train.epochs=2",
           "--set", "train.max_steps_per_epoch=3", "--every", "2", "--probe", "64", "--out", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    rec = json.loads(out.read_text())
    assert [s["step"] for s in rec["steps"]] == [0, 2, 4]
    assert {"grad_norm", "probe_loss_clean", "A_diag_mean", "amp_total", "meta_loss"} <= set(rec["steps"][0])
    assert [e["epoch"] for e in rec["epochs"]] == [1, 2] and len(rec["epochs"][0]["A"]) == 10
    assert rec["collapse"]["collapsed"] in (True, False) and rec["config"]["method_params"]["eps"] == 0.5


def test_collapse_rates_runs_variants_and_pairs_them(tmp_path: Path) -> None:
    script = str(ROOT / "benchmarks" / "collapse_rates.py")
    base = [sys.executable, script, "run", "--suite", str(ROOT / "benchmarks" / "smoke.yaml"), "--cell", "balanced/ce",
            "--seeds", "0", "--set", "train.epochs=2", "--set", "train.max_steps_per_epoch=3"]
    subprocess.run(base, check=True, capture_output=True, text=True, cwd=tmp_path)
    subprocess.run([*base, "--variant", "lr", "--set", "optim.lr=0.05"], check=True, capture_output=True, text=True,
                   cwd=tmp_path)
    subprocess.run([sys.executable, script, "summary", "--out", "s.json"], check=True, capture_output=True, text=True,
                   cwd=tmp_path)
    summary = json.loads((tmp_path / "s.json").read_text())["variants"]
    assert summary["base"]["balanced/ce"]["n"] == 1 and summary["lr"]["balanced/ce"]["overrides"]["optim.lr"] == 0.05
    assert summary["lr"]["balanced/ce"]["vs_base"]["seeds"] == [0]
    assert summary["base"]["balanced/ce"]["params_source"] == "untuned (trial 0)"


def test_bench_run_alternates_ce_and_each_backend(tmp_path: Path) -> None:
    out = tmp_path / "run_cost.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_run.py"),
           "--suite", str(ROOT / "benchmarks" / "smoke.yaml"), "--rows", "longtail",
           "--seeds", "0", "1", "--backend", "jvp", "fd", "--meta-interval", "2",
           "--epochs", "1", "--max-steps-per-epoch", "3", "--out", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    record = json.loads(out.read_text())
    (row,) = record["rows"]
    assert row["row"] == "longtail" and set(row["variants"]) == {
        "ce", "lpg[meta_interval=2][backend=jvp]", "lpg[meta_interval=2][backend=fd]"}
    ce = row["variants"]["ce"]["runs"]
    for backend in ("jvp", "fd"):
        variant = row["variants"][f"lpg[meta_interval=2][backend={backend}]"]
        assert [(r["seed"], r["backend"], r["meta_interval"], r["steps"]) for r in variant["runs"]] == [
            (0, backend, 2, 3), (1, backend, 2, 3)]
        ratios = sorted(r["seconds"] / c["seconds"] for r, c in zip(variant["runs"], ce, strict=True))
        assert variant["ratio_to_ce"] == {"median": pytest.approx(sum(ratios) / 2), "min": ratios[0],
                                          "max": ratios[1]}
    assert record["cpu"] and record["torch"] and "git_commit" in record and len(record["load_average_before"]) == 3


def test_bench_fd_error_compares_at_every_kth_meta_step(tmp_path: Path) -> None:
    out = tmp_path / "fd_error.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_fd_error.py"), "--suite",
           str(ROOT / "benchmarks" / "smoke.yaml"), "--rows", "longtail", "--epochs", "1", "--every", "2",
           "--meta-interval", "1", "--out", str(out)]  # a meta step every step: several in one epoch
    subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    (row,) = json.loads(out.read_text())["rows"]
    assert [s["meta_step"] for s in row["steps"]][:2] == [0, 2]
    summary = row["summary"]
    assert summary["compared_steps"] == len(row["steps"]) > 1
    # float32 fd against jvp: 100 sqrt(u) = 0.035 (tests/lpg/test_lpg_fd.py), here per step.
    assert summary["cosine"]["min"] > 0.99 and summary["relative_error"]["median"] < 0.035


def test_gpu_check_is_valid_bash_and_its_dry_run_prints_the_plan() -> None:
    script = ROOT / "benchmarks" / "gpu_check.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    dry = subprocess.run(["bash", str(script), "--dry-run"], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PY": sys.executable})
    assert dry.returncode == 0, dry.stderr
    for step in ("tests", "throughput", "meta_step"):
        assert f"  {step} (at most" in dry.stdout
    assert "LPG_REQUIRE_CUDA=1" in dry.stdout and "--device cuda" in dry.stdout
    bad = subprocess.run(["bash", str(script), "--bogus"], capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2 and "unknown argument" in bad.stderr
    import torch

    if not torch.cuda.is_available():  # loud failure without a GPU, before any step runs
        real = subprocess.run(["bash", str(script)], capture_output=True, text=True, cwd=ROOT,
                              env={**os.environ, "PY": sys.executable})
        assert real.returncode == 3 and "no CUDA device" in real.stderr


def _machine_folder(root: Path, verdict: str, value: float, lr: float) -> Path:
    (root / "d" / "m" / "seed0").mkdir(parents=True)
    (root / "d" / "m" / "seed0" / "result.json").write_text(json.dumps({"config": {"seed": 0, "optim": {"lr": lr}}}))
    (root / "claims_summary.csv").write_text(f"protocol,claim,verdict\nall,outperforms,{verdict}\n")
    # clip's runs repeat ce's (same_as): its comparison is counted once, as ce's
    (root / "claims.csv").write_text(f"dataset,method,baseline,same_as,verdict\nd,m,ce,,{verdict}\n"
                                     f"d,m,la,,not supported\nd,m,clip,ce,{verdict}\n")
    (root / "runs.csv").write_text("suite,dataset,method,seed,split,metric,value\n"
                                   f"s,d,m,0,test,balanced_accuracy,{value}\ns,d,m,0,val,balanced_accuracy,0.1\n")
    return root


def test_compare_machines_counts_what_moved(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from compare_machines import compare
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    a = _machine_folder(tmp_path / "a", "supported", 0.50, 0.1)
    same = compare(a, _machine_folder(tmp_path / "b", "supported", 0.53, 0.1))
    assert same["protocol_verdicts"]["share_same"] == same["comparison_verdicts"]["share_same"] == 1.0
    assert same["tuned_choices"]["share_same"] == 1.0
    moves = same["cell_mean_moves_points"]
    assert moves["median"] == pytest.approx(3.0) and (moves["over_2"], moves["over_5"]) == (1, 0)
    moved = compare(a, _machine_folder(tmp_path / "c", "not supported", 0.50, 0.2))
    assert moved["protocol_verdicts"]["moved"] == [{"key": ["all", "outperforms"], "first": "supported",
                                                     "second": "not supported"}]
    assert moved["comparison_verdicts"]["share_same"] == 0.5 and moved["tuned_choices"]["moved"] == ["d/m"]
    assert moved["comparison_verdicts"]["compared"] == 2  # the repeat (clip = ce) is not a second comparison
