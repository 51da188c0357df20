"""A suite's seeds: the power rule (hand-computed n), tuning seeds apart from evaluation seeds, clashes."""

import copy
import math

import pytest
import yaml
from suite_kit import tiny_suite

from lpg_meta.bench import expand, parse_suite
from lpg_meta.bench.cells import config_hash
from lpg_meta.bench.seeds import DEFAULT_TUNING_SEED
from lpg_meta.cli import main
from lpg_meta.errors import UserError

BASE = tiny_suite("t", epochs=1)  # ce and a tuned lpg_scale, seeds [0, 1], 2 trials


def parse(**top):
    data = copy.deepcopy(BASE)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return parse_suite(yaml.safe_dump(data, sort_keys=False))


def test_power_rule_gives_the_hand_computed_number_of_seeds():
    # MDE(n) = (t_{0.975, n-1} + t_{0.8, n-1}) / sqrt(n), from t tables:
    #   n = 5: (2.7764 + 0.9410) / sqrt(5) = 1.662 > 1.5;  n = 6: (2.5706 + 0.9195) / sqrt(6) = 1.425 <= 1.5.
    assert (2.7764 + 0.9410) / math.sqrt(5) > 1.5 >= (2.5706 + 0.9195) / math.sqrt(6)
    suite = parse(seeds={"effect_sd": 1.5, "alpha": 0.05, "power": 0.8})
    assert suite.seeds == [0, 1, 2, 3, 4, 5]
    assert suite.seed_rule is not None and suite.seed_rule.n == 6
    assert suite.seed_rule.mde == pytest.approx((2.5706 + 0.9195) / math.sqrt(6), abs=1e-3)
    # alpha and power default to 0.05 and 0.8; a larger effect needs fewer seeds (n = 5 detects 1.662).
    assert parse(seeds={"effect_sd": 1.7}).seeds == [0, 1, 2, 3, 4]
    assert parse(seeds=[0, 1]).seed_rule is None


def test_the_default_tuning_seed_is_no_evaluation_seed():
    assert parse().tuning.seeds == (DEFAULT_TUNING_SEED,)
    crowded = parse(seeds=[0, DEFAULT_TUNING_SEED], extra_seeds={"lt/ce": [DEFAULT_TUNING_SEED + 1]})
    assert crowded.tuning.seeds == (DEFAULT_TUNING_SEED + 2,)


def test_tuning_seeds_change_the_study_but_no_seeded_run():
    a, b = parse(), parse(tuning={"seeds": [7, 8]})
    assert b.tuning.seeds == (7, 8)
    assert expand(a)[1].study_name != expand(b)[1].study_name  # lt/lpg_scale: its trials change
    for old, new in zip(expand(a), expand(b), strict=True):
        tuned = {"eps": 0.1} if old.space else {}
        for seed in a.seeds:
            assert config_hash(old.config(seed, tuned)) == config_hash(new.config(seed, tuned))
    # The margin only reads stored scores: same study; last_epochs changes the scores: a new one.
    margin, last = parse(tuning={"margin": 3}), parse(tuning={"last_epochs": 1})
    assert [c.study_name for c in expand(margin)] == [c.study_name for c in expand(a)]
    assert expand(last)[1].study_name != expand(a)[1].study_name


@pytest.mark.parametrize("top, expected", [
    ({"tuning": {"seeds": [1, 5]}}, ["tuning.seeds", "[1]", "no reported run"]),
    ({"tuning": {"seeds": [3]}, "extra_seeds": {"lt/ce": [3]}}, ["tuning.seeds", "[3]"]),
    ({"tuning": {"seeds": []}}, ["tuning.seeds", "non-empty list"]),
    ({"tuning": {"margin": -1}}, ["tuning.margin", ">= 0"]),
    ({"tuning": {"last_epochs": 0}}, ["tuning.last_epochs", "integer >= 1"]),
    ({"seeds": {"effect_sd": 0}}, ["seeds.effect_sd", "positive"]),
    ({"seeds": {"effect_sd": 1.5, "alpha": 5}}, ["seeds.alpha", "(0, 1)"]),
    ({"seeds": {"effect": 1.5}}, ["seeds.effect", "unknown key"]),
    ({"seeds": {"effect_sd": 0.01}}, ["seeds", "larger effect_sd"]),
], ids=["clash", "clash extra", "empty", "margin", "last epochs", "effect", "alpha", "rule key", "too many"])
def test_bad_seed_settings_name_the_key(top, expected):
    with pytest.raises(UserError) as err:
        parse(**top)
    for text in expected:
        assert text in str(err.value), str(err.value)


def test_a_clash_exits_2_in_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys):
    data = {**copy.deepcopy(BASE), "output": str(tmp_path / "out"), "tuning": {"trials": 2, "seeds": [0]}}
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert main(["run", str(tmp_path / "suite.yaml")]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "tuning.seeds: seed(s) [0]" in lines[0] and "Traceback" not in captured.err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_the_cpu_suite_fixes_its_seeds_by_the_rule_and_tunes_apart():
    from pathlib import Path

    from lpg_meta.bench import load_suite

    benchmarks = Path(__file__).resolve().parents[2] / "benchmarks"
    cpu = load_suite(benchmarks / "cpu.yaml")
    assert cpu.seed_rule is not None and cpu.seed_rule.n == 6 and cpu.seeds == list(range(6))
    assert cpu.extra_seeds == {}  # every cell on the same seeds, none added after results
    assert cpu.tuning.seeds == (1000,) and cpu.tuning.margin == 5 and cpu.tuning.last_epochs == 3
    smoke = load_suite(benchmarks / "smoke.yaml")
    assert smoke.tuning.seeds == (100,) and not set(smoke.tuning.seeds) & set(smoke.seeds)


def test_the_dry_run_states_what_the_seeds_detect_and_prints_no_mde_for_one_seed(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for seeds, expected in (([0, 1, 2], "a paired comparison on 3 seeds detects 3.10 paired sd"),
                            ([0], "1 seed(s) a cell cannot carry a paired comparison (it needs at least 2)")):
        data = {**copy.deepcopy(BASE), "seeds": seeds}
        (tmp_path / "suite.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
        assert main(["run", str(tmp_path / "suite.yaml"), "--dry-run"]) == 0
        out = capsys.readouterr().out
        assert expected in out and "inf paired" not in out, out
