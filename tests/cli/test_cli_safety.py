"""The command line keeps results safe and says what to do: ``train`` never replaces
another config's result, an interrupt says how to resume, ``--version``, and typo suggestions."""

from __future__ import annotations

import json

import pytest

from lpg_meta import cli
from lpg_meta.cli import main
from lpg_meta.errors import closest, edit_distance
from lpg_meta.methods import METHODS

TINY = ["--dataset", "digits", "--set", "train.epochs=1", "--set", "train.progress=none",
        "--set", "train.max_steps_per_epoch=2"]


def test_train_never_replaces_the_result_of_another_config(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)  # the default folder, runs/DATASET/METHOD/seedN
    path = tmp_path / "runs/digits/ce/seed0/result.json"
    assert main(["train", *TINY]) == 0
    first = path.read_bytes()
    # Another config, same default folder: refused before training, the result untouched.
    assert main(["train", *TINY, "--set", "data.imbalance=10"]) == 2
    err = capsys.readouterr().err
    assert "holds the result of another config" in err and "--out DIR" in err and "--force" in err
    assert "(it differs in data.imbalance: 1.0 -> 10.0)" in err  # the one setting that differs, no other
    assert path.read_bytes() == first
    # The same config again (progress is no part of it) is trained again and replaces its result.
    assert main(["train", *TINY, "--set", "train.progress=log"]) == 0
    assert json.loads(path.read_text())["config"]["train"]["progress"] == "log"
    # --force replaces another config's result; --out keeps both.
    assert main(["train", *TINY, "--set", "data.imbalance=10", "--out", "other"]) == 0
    assert json.loads((tmp_path / "other/result.json").read_text())["config"]["data"]["imbalance"] == 10
    assert main(["train", *TINY, "--set", "data.imbalance=10", "--force"]) == 0
    assert json.loads(path.read_text())["config"]["data"]["imbalance"] == 10


def test_an_unreadable_result_is_not_replaced_without_force(tmp_path, capsys) -> None:
    (tmp_path / "result.json").write_text("{half a fi")
    assert main(["train", *TINY, "--out", str(tmp_path)]) == 2
    assert "--force" in capsys.readouterr().err
    assert (tmp_path / "result.json").read_text() == "{half a fi"


@pytest.mark.parametrize(("command", "resumes"), [("run", True), ("quick", True), ("train", True)])
def test_an_interrupt_exits_130_and_says_how_to_resume(command, resumes, monkeypatch, capsys) -> None:
    def interrupted(_):
        raise KeyboardInterrupt

    monkeypatch.setitem(cli.COMMANDS, command, interrupted)
    argv = {"run": ["run", "suite.yaml"], "quick": ["quick"], "train": ["train"]}[command]
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err
    assert ("run the same command again to resume" in err) == resumes


def test_version(capsys) -> None:
    with pytest.raises(SystemExit) as code:
        main(["--version"])
    assert code.value.code == 0
    out = capsys.readouterr().out.split()
    assert out[0] == "lpg-meta" and out[1][0].isdigit()


def test_edit_distance_by_hand() -> None:
    assert edit_distance("lgp", "lpg") == 1  # one swap of neighbours
    assert edit_distance("lgp", "lpl") == 2
    assert edit_distance("", "abc") == 3 and edit_distance("kitten", "sitting") == 3


@pytest.mark.parametrize(("typo", "meant"), [("lgp", "lpg"), ("lpgg", "lpg"), ("lpl_", "lpl"), ("ldma", "ldam")])
def test_a_method_typo_suggests_the_closest_name(typo, meant, capsys) -> None:
    assert closest(typo, METHODS.names()) == f" Did you mean '{meant}'?"
    assert main(["train", "--method", typo]) == 2
    assert f"Did you mean '{meant}'?" in capsys.readouterr().err
