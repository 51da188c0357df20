"""Compositions that would lose state are refused, and a meta method without a meta split fails
when its config is resolved, before any data or batch.

Both are parametrized over the registry, so a newly registered plug-in or meta method is covered.
"""

from __future__ import annotations

import pytest

from lpg_meta.cli import main
from lpg_meta.config import resolve_config
from lpg_meta.errors import UserError
from lpg_meta.methods import METHODS, method_classes
from lpg_meta.train import trainer

PLUG_INS = [n for n in METHODS.names() if getattr(METHODS.get(n), "accepts_bases", ())]
META = [n for n in METHODS.names() if METHODS.get(n).needs_meta]


@pytest.mark.parametrize("wrapper", PLUG_INS)
@pytest.mark.parametrize("base", PLUG_INS)
def test_a_plug_in_on_a_plug_in_is_refused_with_the_allowed_bases(wrapper: str, base: str) -> None:
    # Both halves record their state under one key (``lpg``): the inner one would be lost.
    with pytest.raises(UserError, match=rf"'{wrapper}\+{base}' cannot compose") as err:
        method_classes(f"{wrapper}+{base}")
    message = str(err.value)
    if METHODS.get(base).kind in METHODS.get(wrapper).accepts_bases:  # else the kind is the reason
        assert "itself a plug-in" in message and "ce" in message.split(":")[-1]
        assert base not in message.split(":")[-1].replace(",", " ").split()  # not offered as allowed


def test_lpg_clip_on_lpg_rule_exits_2_before_training(tmp_path, capsys) -> None:
    code = main(["train", "--method", "lpg_clip+lpg_rule", "--out", str(tmp_path / "out")])
    assert code == 2 and "itself a plug-in" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_every_meta_kind_method_declares_needs_meta() -> None:
    # ``needs_meta`` is what the one check reads: a meta method without it would slip through.
    assert META and all(METHODS.get(n).needs_meta for n in METHODS.names() if METHODS.get(n).kind == "meta")
    assert "lpg_rule" not in META  # the closed-form rule needs no meta split


@pytest.mark.parametrize("name", [*META, "lpg+ce", "lpg_scale+sam"])
def test_a_meta_method_without_a_meta_split_fails_at_resolution(name: str) -> None:
    raw = {"dataset": "digits", "method": name, "data": {"meta_per_class": 0},
           "method_params": {"warmup_epochs": 2}}
    with pytest.raises(UserError, match=r"data\.meta_per_class is 0; set it above 0"):
        resolve_config(raw)
    resolve_config({**raw, "data": {"meta_per_class": 1}})  # the same with a meta split is valid


@pytest.mark.parametrize("name", ["ce", "lpg_rule", "lpg_rule+la"])
def test_a_method_without_meta_learning_needs_no_meta_split(name: str) -> None:
    resolve_config({"dataset": "digits", "method": name, "data": {"meta_per_class": 0}})


def test_the_cli_fails_before_the_first_batch(tmp_path, monkeypatch, capsys) -> None:
    # The case: lpg with two warm-up epochs trained both before failing.
    monkeypatch.setattr(trainer, "build_data", lambda *a, **k: pytest.fail("data were built"))
    code = main(["train", "--dataset", "digits", "--method", "lpg", "--out", str(tmp_path / "out"),
                 "--set", "data.meta_per_class=0", "--set", "method.warmup_epochs=2"])
    assert code == 2 and "data.meta_per_class is 0" in capsys.readouterr().err
