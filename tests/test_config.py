"""Configuration: --set parsing, defaults and validation errors that name the key."""

import pytest

from lpg_meta.config import merge, parse_overrides, resolve_config
from lpg_meta.errors import UserError


def test_overrides_parse_yaml_values_into_sections():
    out = parse_overrides(["optim.lr=0.05", "method.eps=0.5", "train.epochs=3", "seed=4", "optim.milestones=[1, 2]"])
    assert out == {"optim": {"lr": 0.05, "milestones": [1, 2]}, "method_params": {"eps": 0.5},
                   "train": {"epochs": 3}, "seed": 4}


def test_resolved_config_fills_every_default():
    cfg = resolve_config({"dataset": "mnist1d", "method": "ce", "seed": 1})
    assert cfg["model"] == "cnn1d"
    assert cfg["optim"]["momentum"] == 0.9
    assert cfg["train"]["epochs"] >= 1
    assert cfg["data"]["imbalance"] == 1.0


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        (["optim.lrr=0.1"], "optim.lrr"),
        (["optim.lr=fast"], "optim.lr"),
        (["optim.lr=-1"], "optim.lr"),
        (["trian.epochs=3"], "trian"),
        (["train.epochs=0"], "train.epochs"),
        (["noequals"], "key=value"),
        (["data.imbalanse=10"], "data.imbalanse"),
        (["method.bogus=1"], "method.bogus"),
        (["optim.schedule=linear"], "optim.schedule"),
    ],
)
def test_bad_settings_name_the_key(overrides, needle):
    with pytest.raises(UserError, match=needle.replace(".", r"\.")):
        resolve_config(merge({"dataset": "mnist1d", "method": "ce"}, parse_overrides(overrides)))


def test_unknown_method_suggests_the_closest_name():
    with pytest.raises(UserError, match="Did you mean 'lpg'"):
        resolve_config({"dataset": "mnist1d", "method": "lpgg"})
