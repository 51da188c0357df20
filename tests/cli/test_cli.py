"""The command line: train writes result.json, list names everything, mistakes exit 2 cleanly."""

import json
import subprocess
import sys

import pytest

from lpg_meta.cli import main
from lpg_meta.stage import is_progress

TINY = ["--set", "data.num_samples=1000", "--set", "train.epochs=2", "--set", "train.progress=none"]


def test_train_writes_a_complete_result(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--dataset", "mnist1d", "--method", "lpg", "--seed", "0", "--out", str(out), *TINY,
                 "--set", "data.imbalance=10"]) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["seed"] == 0 and result["config"]["method"] == "lpg"
    for split in ("test", "val"):
        metrics = result["metrics"][split]
        assert 0 <= metrics["accuracy"] <= 1 and 0 <= metrics["balanced_accuracy"] <= 1
        assert len(metrics["per_class"]) == 10
    assert result["provenance"]["versions"]["torch"]
    assert "git_commit" in result["provenance"]
    assert result["timing"]["seconds_total"] > 0
    assert len(result["lpg"]["trajectory"]) == 2 and len(result["lpg"]["trajectory"][0]) == 10
    assert "test accuracy" in capsys.readouterr().out


def test_version_prints_the_package_version(capsys):
    from lpg_meta import __version__

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"lpg-meta {__version__}"


def test_list_names_methods_datasets_and_models(capsys):
    assert main(["list"]) == 0
    text = capsys.readouterr().out
    for name in ("ce", "lpg", "lpg_scale", "lpg_shift", "lpg_clip", "lpg_rule", "sam", "clip", "gnoise",
                 "mnist1d", "digits", "cifar10", "cifar100", "imagefolder",
                 "mlp", "cnn1d", "cnn2d", "resnet32", "wrn28_10"):
        assert name in text


def test_data_prints_split_counts_as_json(capsys):
    assert main(["data", "--dataset", "digits", "--json", "--set", "data.imbalance=10"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["per_class"]["train"][0] > summary["per_class"]["train"][9]


def test_data_names_the_classes_below_their_long_tail_count(capsys):
    # digits keeps 104 and 107 training samples of classes 0 and 1 once 20 a class left for the
    # meta and validation splits: below n_max 160 and its exp-profile count 160 * 0.1^(1/9) = 123.
    assert main(["data", "--dataset", "digits", "--set", "data.imbalance=10", "--set", "data.n_max=160"]) == 0
    out = capsys.readouterr().out
    assert "long tail: 2 class(es) below the asked count" in out and "0: 104 of 160, 1: 107 of 123" in out
    assert main(["data", "--dataset", "digits", "--set", "data.imbalance=10"]) == 0  # n_max fits the pool
    assert "long tail:" not in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--method", "lpgg"],
        ["train", "--dataset", "mnist2d"],
        ["train", "--set", "optim.lr=abc"],
        ["train", "--set", "data.noise_rate=1.5"],
        ["train", "--dataset", "cifar10", "--set", "data.root=/nonexistent/cifar"],
        ["train", "--method", "sam+ce"],
        ["data", "--set", "data.imbalance=0.5"],
    ],
)
def test_user_mistakes_exit_2_without_traceback(argv, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "lpg_meta.cli", *argv, *TINY[2:]], capture_output=True,
                          text=True, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    # One error line; the progress lines of loading torch (on a slow machine) may come before it.
    lines = [line for line in proc.stderr.strip().splitlines() if not is_progress(line)]
    assert len(lines) == 1 and lines[0].startswith("lpg-meta: error:"), proc.stderr
    assert not (tmp_path / "runs").exists()
