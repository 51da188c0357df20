"""User mistakes in data settings raise a one-line UserError naming the key."""

from __future__ import annotations

import json

import pytest

from lpg_meta.catalog import data_defaults
from lpg_meta.data import build_data
from lpg_meta.errors import UserError

BAD = [
    ({"noise_rate": 1.0, "noise": "sym_excl"}, "data.noise_rate"),
    ({"noise_rate": -0.1, "noise": "sym_excl"}, "data.noise_rate"),
    ({"noise_rate": 0.2}, "data.noise"),  # a rate without a named kind
    ({"imbalance": 0.5}, "data.imbalance"),
    ({"noise": "symmetric"}, "data.noise"),
    ({"profile": "linear"}, "data.profile"),
    ({"imbalance_ratio": 10}, "data.imbalance_ratio"),
    ({"noise": "asym", "noise_rate": 0.2}, "data.noise_map"),  # digits has no built-in map
    ({"noise": "asym", "noise_rate": 0.2, "noise_map": {3: 12}}, "data.noise_map"),
    ({"noise": "asym", "noise_rate": 0.2, "noise_map": {"a": 1}}, "data.noise_map"),
    ({"meta_per_class": 70}, "data.meta_per_class"),
    ({"n_max": 0}, "data.n_max"),
    ({"n_max": "many"}, "data.n_max"),
    ({"val_per_class": -1}, "data.val_per_class"),
    ({"seed": "x"}, "data.seed"),
    ({"few_threshold": 60}, "data.few_threshold"),
    ({"meta_per_class": 2.5}, "data.meta_per_class"),
    ({"test_fraction": 1.5}, "data.test_fraction"),
]


@pytest.mark.parametrize(("params", "key"), BAD)
def test_bad_setting_names_the_key(params: dict, key: str) -> None:
    with pytest.raises(UserError) as err:
        build_data("digits", params, seed=0)
    msg = str(err.value)
    assert key in msg and "\n" not in msg


def test_unknown_dataset_suggests() -> None:
    with pytest.raises(UserError, match="Did you mean 'digits'"):
        build_data("digit", {}, seed=0)


def test_cifar_root_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LPG_DATA", raising=False)
    with pytest.raises(UserError, match="data.root"):
        build_data("cifar10", {}, seed=0)


def test_imagefolder_root_required() -> None:
    with pytest.raises(UserError, match="data.root"):
        build_data("imagefolder", {}, seed=0)


def test_defaults_cover_common_and_specific() -> None:
    common = {"imbalance", "profile", "n_max", "noise", "noise_rate", "noise_map",
              "meta_per_class", "val_per_class", "seed", "many_threshold", "few_threshold"}
    assert common | {"num_samples"} <= set(data_defaults("mnist1d"))
    assert common | {"root", "download"} <= set(data_defaults("cifar100"))
    assert common | {"root", "image_size"} <= set(data_defaults("imagefolder"))
    assert data_defaults("cifar10")["n_max"] == 5000 and data_defaults("cifar100")["n_max"] == 500
    d = data_defaults("digits")
    d["noise_map"]["1"] = 2  # a caller's edit must not leak into the next call
    assert data_defaults("digits")["noise_map"] == {}


def test_summary_is_json() -> None:
    b = build_data("digits", {"imbalance": 10, "noise": "pair", "noise_rate": 0.2}, seed=0)
    s = json.loads(json.dumps(b.summary()))
    assert s["sizes"]["train"] == sum(s["per_class"]["train"])
    assert s["noise"]["kind"] == "pair" and 0 < s["noise"]["realised_rate"] < 0.4
    assert sorted(sum(s["shot_groups"].values(), [])) == list(range(10))
