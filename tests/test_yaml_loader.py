"""Settings are read with YAML 1.2's numbers: ``1e-3`` is a float in a suite, a ``tune:`` range and ``--set``."""

import pytest

from lpg_meta.bench import expand, parse_suite
from lpg_meta.config import parse_overrides, resolve_config
from lpg_meta.errors import UserError
from lpg_meta.yaml_loader import load_value

SUITE = """
suite: t
defaults:
  data: {num_samples: 600}
  optim: {lr: 1e-3, weight_decay: 5E-4}
  train: {epochs: 1}
datasets:
  lt: {source: mnist1d, imbalance: 10}
methods:
  lpg_scale:
    params: {meta_lr: 2e-2}
    tune: {meta_lr: [log, 1e-4, 1e-1], optim.lr: [log, 1e-4, 1.5e-3]}
seeds: [0]
tuning: {trials: 2}
"""


@pytest.mark.parametrize(("text", "expected"), [
    ("1e-3", 0.001), ("1E5", 100000.0), ("-2e+2", -200.0), ("1.0e3", 1000.0), (".5e1", 5.0),
    ("0.1", 0.1), ("1_000.5", 1000.5), (".inf", float("inf")),
])
def test_floats_as_written_in_ml_papers(text, expected):
    value = load_value(text)
    assert isinstance(value, float) and value == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("42", 42), ("true", True), ("null", None), ("e5", "e5"), ("1e", "1e"), ("1.2.3", "1.2.3"),
    ("cosine", "cosine"), ("[1e-3, 2]", [0.001, 2]), ("0x10", 16),
])
def test_other_scalars_keep_their_type(text, expected):
    value = load_value(text)
    assert value == expected and type(value) is type(expected)


def test_set_reads_exponent_numbers():
    cfg = resolve_config(parse_overrides(["optim.lr=1e-3", "method.meta_lr=5e-3", "method=lpg_scale"]))
    assert cfg["optim"]["lr"] == 0.001 and cfg["method_params"]["meta_lr"] == 0.005


def test_suite_values_and_tune_ranges_read_exponent_numbers():
    suite = parse_suite(SUITE)
    assert suite.defaults["optim"] == {"lr": 0.001, "weight_decay": 0.0005}
    assert suite.methods["lpg_scale"].params == {"meta_lr": 0.02}
    assert suite.methods["lpg_scale"].tune == {"meta_lr": ("log", 0.0001, 0.1), "optim.lr": ("log", 0.0001, 0.0015)}
    (cell,) = expand(suite)
    assert cell.first_trial == {"meta_lr": 0.02, "optim.lr": 0.001}


def test_duplicate_keys_are_still_errors():
    with pytest.raises(UserError, match="duplicate key"):
        parse_suite(SUITE + "seeds: [1]\n")
