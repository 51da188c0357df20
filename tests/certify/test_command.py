"""``lpg-meta certify``: runs found, saved or rebuilt weights, resumable CSV, bad input in one line."""

from __future__ import annotations

import csv
import math
import shutil
from pathlib import Path

import pytest
import torch

from lpg_meta.certify.runs import split_for_prior, tuning_candidates
from lpg_meta.cli import main
from lpg_meta.config import resolve_config
from lpg_meta.errors import UserError
from lpg_meta.results import CERTIFICATES_NAME, RANDOM_START_TRIALS, TUNING_DIR, config_hash, trial_log_name
from lpg_meta.train.trainer import train

FAST = ["--steps", "3", "--mc-draws", "4"]


def tiny(method: str, save_model: bool):
    return resolve_config({
        "dataset": "digits", "method": method, "model": "mlp", "seed": 1,
        "train": {"epochs": 2, "batch_size": 128, "max_steps_per_epoch": 3, "eval_batch_size": 256,
                  "threads": 1, "progress": "none", "save_model": save_model},
    })


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two runs on one row: la_posthoc with saved weights (a prediction-time adjustment too), ce without."""
    root = tmp_path_factory.mktemp("results")
    for method, save in (("la_posthoc", True), ("ce", False)):
        folder = root / "digits_row" / method / "seed1"
        train(tiny(method, save), out_dir=folder)
    return root


def rows(root: Path) -> list[dict[str, str]]:
    with (root / CERTIFICATES_NAME).open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_certify_writes_a_row_per_run_and_resumes(results: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["certify", str(results), *FAST]) == 0
    first = rows(results)
    assert sorted((r["method"], r["weights"]) for r in first) == [("ce", "rebuilt"), ("la_posthoc", "saved")]
    rebuilt = next(r for r in first if r["method"] == "ce")
    assert float(rebuilt["rebuilt_accuracy_diff"]) == 0.0  # training again reproduced the recorded run
    for r in first:
        assert 0 <= float(r["mc_train_error"]) <= float(r["mc_train_error_upper"]) <= float(r["certificate"]) <= 1
        assert int(r["n"]) > 0 and float(r["kl"]) >= 0
    capsys.readouterr()
    assert main(["certify", str(results), *FAST]) == 0  # nothing left to do: the file is unchanged
    assert "0 to certify" in capsys.readouterr().err
    assert rows(results) == first
    assert not list(results.glob(f".{CERTIFICATES_NAME}.*.tmp"))


def test_a_run_trained_again_with_another_config_is_certified_again(results: Path, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture) -> None:
    root = tmp_path / "results"
    shutil.copytree(results, root)
    (root / CERTIFICATES_NAME).unlink(missing_ok=True)
    assert main(["certify", str(root), *FAST]) == 0
    before = {r["method"]: r for r in rows(root)}
    assert before["ce"]["config_hash"] == config_hash(tiny("ce", False))
    folder = root / "digits_row" / "ce" / "seed1"
    shutil.rmtree(folder)
    changed = tiny("ce", False)
    changed["train"]["epochs"] = 1  # the suite row changed: the run is trained again
    train(changed, out_dir=folder)
    capsys.readouterr()
    assert main(["certify", str(root), *FAST]) == 0
    assert "1 to certify" in capsys.readouterr().err
    after = {r["method"]: r for r in rows(root)}
    assert after["ce"]["config_hash"] == config_hash(changed) != before["ce"]["config_hash"]
    assert after["la_posthoc"] == before["la_posthoc"]  # its run did not change: its row is kept as it was


def test_workers_write_the_same_certificates_as_one_process(results: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(results, copy, ignore=shutil.ignore_patterns(CERTIFICATES_NAME))
    runs = []
    for workers in ("1", "2"):
        (copy / CERTIFICATES_NAME).unlink(missing_ok=True)
        assert main(["certify", str(copy), "--workers", workers, *FAST]) == 0
        runs.append([{k: v for k, v in r.items() if k != "seconds"} for r in rows(copy)])
    assert len(runs[0]) == 2 and runs[0] == runs[1]  # each run's draws are its own, whichever process runs it


def test_data_variant_certifies_on_the_held_out_half(results: Path) -> None:
    assert main(["certify", str(results), "--methods", "la_posthoc", "--variants", "data", *FAST]) == 0
    init, data = (next(r for r in rows(results) if (r["method"], r["variant"]) == ("la_posthoc", v))
                  for v in ("init", "data"))
    prior, bound = split_for_prior(int(init["n"]), 1)
    assert int(data["n"]) == len(bound) == int(init["n"]) - len(prior)
    assert set(prior.tolist()).isdisjoint(bound.tolist())
    assert data["weights"] == "not used"  # Q starts at the half-set run, not at the run's weights
    assert data["test_error_w"] == init["test_error_w"]  # the run's recorded test error, in both variants
    assert data["test_error_start"] != init["test_error_start"]


def test_data_variant_prior_is_the_runs_own_method_on_the_prior_half(results: Path) -> None:
    from lpg_meta.certify.runs import prior_from_part, run_network

    net = run_network(results / "digits_row" / "la_posthoc" / "seed1", weights=False)
    prior_idx, _ = split_for_prior(len(net.bundle.train), 1)
    state, predict = prior_from_part(net, prior_idx)
    again = train({**net.result["config"], "train": {**net.result["config"]["train"], "save_model": False}},
                  train_subset=prior_idx)
    model = net.model
    model.load_state_dict(state)
    x = net.bundle.prepare(net.bundle.test.x)
    with torch.no_grad():
        accuracy = float((predict(model(x)).argmax(1) == net.bundle.test.y).double().mean())
    assert accuracy == pytest.approx(again["metrics"]["test"]["accuracy"], abs=1e-12)
    # la_posthoc adjusts its logits by the log class prior of the examples it trained on: the half's
    half = net.bundle.with_train_subset(prior_idx).train_counts
    logits = torch.zeros(1, 10)
    prior = torch.tensor(half, dtype=torch.float64) / sum(half)
    assert torch.allclose(predict(logits).double() - predict(logits).double().mean(),
                          -(prior.log() - prior.log().mean()).unsqueeze(0), atol=1e-5)


def test_an_untuned_run_has_one_candidate_and_a_tuned_one_its_trials(tmp_path: Path) -> None:
    run = tmp_path / "row" / "lpg" / "seed0"
    run.mkdir(parents=True)
    assert tuning_candidates(run, {"suite": {"study_name": None}}) == (1, True)
    assert tuning_candidates(run, {}) == (1, True)  # a run outside a suite: its config was fixed by hand
    tuned = {"suite": {"study_name": "cpu.row.lpg.abc"}}
    with pytest.raises(UserError, match="no trial log"):
        tuning_candidates(run, tuned)
    trials = run.parent / TUNING_DIR
    trials.mkdir()
    for number in range(2):
        (trials / trial_log_name(number)).write_text("")
    (trials / "trial001_seed1000.json").write_text("{}")  # a trial's result is not another candidate
    assert tuning_candidates(run, tuned) == (2, True)
    for number in range(2, RANDOM_START_TRIALS + 1):
        (trials / trial_log_name(number)).write_text("")
    assert tuning_candidates(run, tuned) == (RANDOM_START_TRIALS + 1, False)  # the last was guided by scores


def test_a_tuned_run_pays_ln_of_its_candidates(results: Path) -> None:
    # la_posthoc's cell as if tuned over 2 trials: at 0 steps the same Q, draws and KL, the union bound 2x wider.
    import json

    from lpg_meta.certify import bounds
    from lpg_meta.certify.command import read_certificates, write_certificates

    start = ["--methods", "la_posthoc", "--variants", "data", "--steps", "0", "--mc-draws", "200"]

    def certify_again() -> dict[str, str]:
        write_certificates(results / CERTIFICATES_NAME,
                           [r for r in read_certificates(results / CERTIFICATES_NAME)
                            if (r["method"], r["variant"]) != ("la_posthoc", "data")])
        assert main(["certify", str(results), *start]) == 0
        return next(r for r in rows(results) if (r["method"], r["variant"]) == ("la_posthoc", "data"))

    before = certify_again()
    assert (before["candidates"], before["candidates_blind"]) == ("1", "True")
    run = results / "digits_row" / "la_posthoc" / "seed1"
    saved = (run / "result.json").read_text()
    trials = run.parent / TUNING_DIR
    trials.mkdir()
    for number in range(2):
        (trials / trial_log_name(number)).write_text("")
    try:
        (run / "result.json").write_text(json.dumps({**json.loads(saved), "suite": {"study_name": "s.row.la"}}))
        after = certify_again()
    finally:
        (run / "result.json").write_text(saved)
        for log in trials.iterdir():
            log.unlink()
        trials.rmdir()
    assert (after["candidates"], after["candidates_blind"]) == ("2", "True")
    assert after["kl"] == before["kl"] and after["mc_train_error_upper"] == before["mc_train_error_upper"]
    n, upper = int(before["n"]), float(before["mc_train_error_upper"])
    rhs = bounds.binary_kl(upper, float(before["certificate"])) + math.log(2) / n
    assert float(after["certificate"]) == pytest.approx(bounds.kl_inverse_upper(upper, rhs), abs=1e-6)
    assert float(after["certificate"]) > float(before["certificate"])


@pytest.mark.parametrize("argv, message", [
    (["certify", "{root}/nowhere"], "does not exist"),
    (["certify", "{root}", "--methods", "la_posthoq"], "Did you mean 'la_posthoc'?"),
    (["certify", "{root}", "--rows", "digit_row"], "no run of 'digit_row'"),
    (["certify", "{root}", "--seeds", "7"], "no run of 7"),
    (["certify", "{root}", "--steps", "-1"], "--steps must be at least 0"),
    (["certify", "{root}", "--workers", "0"], "--workers must be at least 1"),
])
def test_bad_input_is_one_line_and_exit_2(results: Path, capsys: pytest.CaptureFixture, argv: list[str],
                                          message: str) -> None:
    assert main([a.format(root=results) for a in argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
