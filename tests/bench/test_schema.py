"""Suite files: every mistake is a UserError that names its key path; cells merge and hash as documented."""

import copy
from pathlib import Path

import pytest
import yaml

from lpg_meta.bench import expand, load_suite, parse_suite
from lpg_meta.bench.cells import config_hash
from lpg_meta.catalog import method_defaults
from lpg_meta.errors import UserError

BASE = yaml.safe_load("""
suite: t
defaults:
  data: {num_samples: 600}
  train: {epochs: 2}
datasets:
  lt: {source: mnist1d, imbalance: 10}
methods:
  ce: {}
  lpg_scale:
    tune: {eps: [log, 0.01, 0.9]}
seeds: [0, 1]
tuning: {trials: 2}
""")
SMOKE = Path(__file__).resolve().parents[2] / "benchmarks" / "smoke.yaml"


def build(edit=None):
    data = copy.deepcopy(BASE)
    if edit is not None:
        edit(data)
    suite = parse_suite(yaml.safe_dump(data, sort_keys=False))
    return suite, expand(suite)


def setting(path, value):
    """An edit that sets ``data[a][b]... = value`` along a dotted path."""
    def edit(data):
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return edit


MALFORMED = [
    ("top-level typo", setting("seed", [0]), ["seed:", "unknown key", "Did you mean 'seeds'"]),
    ("dataset key typo", setting("datasets.lt.imbalnce", 10), ["datasets.lt.imbalnce", "'imbalance'"]),
    ("unknown source", setting("datasets.lt.source", "mnist2d"), ["datasets.lt.source", "'mnist1d'"]),
    ("unknown method", setting("methods.lpgg", {}), ["methods.lpgg.method", "'lpg'"]),
    ("bad composition", setting("methods.x", {"method": "ce+la"}), ["methods.x.method", "not a plug-in"]),
    ("noise rate 1", setting("datasets.lt.noise_rate", 1.0), ["datasets.lt.noise_rate", "[0, 1)"]),
    ("imbalance < 1", setting("datasets.lt.imbalance", 0.5), ["datasets.lt.imbalance", ">= 1"]),
    ("shortcut type", setting("datasets.lt.imbalance", "ten"), ["datasets.lt.imbalance must be a number"]),
    ("rate without kind", setting("datasets.lt.noise_rate", 0.2), ["datasets.lt.noise_rate is 0.2", "sym_incl"]),
    ("noise kind", setting("datasets.lt.noise", "symetric"), ["datasets.lt.noise", "sym_incl"]),
    ("rate in defaults", setting("defaults.data.noise_rate", 0.2),
     ["defaults.data.noise_rate is 0.2 but datasets.lt.noise is 'none'", "sym_incl"]),
    ("shot thresholds", setting("datasets.lt.data", {"many_threshold": 10}),
     ["datasets.lt.data.few_threshold (20) must not exceed datasets.lt.data.many_threshold (10)"]),
    ("profile", setting("datasets.lt.data", {"profile": "exponential"}), ["datasets.lt.data.profile", "must be one of exp, step"]),
    ("data typo", setting("datasets.lt.data", {"num_sample": 5}), ["datasets.lt.data.num_sample", "'num_samples'"]),
    ("both spellings", setting("datasets.lt.data", {"imbalance": 5}), ["datasets.lt.imbalance", "keep one"]),
    ("params typo", setting("methods.lpg_scale.params", {"epsilon": 0.1}), ["methods.lpg_scale.params.epsilon", "'eps'"]),
    ("params type", setting("methods.lpg_scale.params", {"eps": "big"}), ["methods.lpg_scale.params.eps", "number"]),
    ("tune name", setting("methods.lpg_scale.tune", {"epss": ["log", 0.01, 0.9]}), ["methods.lpg_scale.tune.epss", "'eps'"]),
    ("tune kind", setting("methods.lpg_scale.tune.eps", ["flaot", 0.0, 0.9]), ["methods.lpg_scale.tune.eps", "'float'"]),
    ("tune bounds", setting("methods.lpg_scale.tune.eps", ["float", 0.9, 0.1]), ["methods.lpg_scale.tune.eps", "below high"]),
    ("tune log 0", setting("methods.lpg_scale.tune.eps", ["log", 0.0, 0.9]), ["methods.lpg_scale.tune.eps", "low > 0"]),
    ("tune int type", setting("methods.lpg_scale.tune.warmup_epochs", ["float", 0, 3]), ["tune.warmup_epochs", "[int, 0, 3]"]),
    ("tune optim typo", setting("methods.lpg_scale.tune", {"optim.lrr": ["log", 0.01, 0.3]}), ["tune.optim.lrr", "'optim.lr'"]),
    ("default outside", setting("methods.lpg_scale.tune.eps", ["float", 0.95, 0.99]), ["methods.lpg_scale.tune.eps", "untuned value", "outside"]),
    ("lr outside", setting("methods.lpg_scale.tune", {"optim.lr": ["log", 0.2, 0.3]}), ["tune.optim.lr", "0.1", "outside"]),
    ("empty matrix", setting("matrix", {"exclude": ["lt/*"]}), ["matrix", "no cell"]),
    ("exclude typo", setting("matrix", {"exclude": ["lt/cee"]}), ["matrix.exclude[0]", "'lt/ce'"]),
    ("matrix row", setting("matrix", {"methods": ["ce", "lpg"]}), ["matrix.methods", "'lpg'", "Rows: ce, lpg_scale"]),
    ("seeds type", setting("seeds", 3), ["seeds", "list of integers"]),
    ("seeds repeat", setting("seeds", [1, 1]), ["seeds", "repeats"]),
    ("trials type", setting("tuning.trials", "many"), ["tuning.trials", "integer >= 0"]),
    ("pruner", setting("tuning.pruner", "hyperband"), ["tuning.pruner", "median or none"]),
    ("metric", setting("tuning.metric", "balanced_acc"), ["tuning.metric", "'balanced_accuracy'"]),
    ("direction", setting("tuning.direction", "minimize"), ["tuning.direction", "maximize"]),
    ("tuning key", setting("tuning.trails", 3), ["tuning.trails", "'trials'"]),
    ("defaults optim", setting("defaults.optim", {"lrr": 0.1}), ["defaults.optim.lrr", "'lr'"]),
    ("defaults section", setting("defaults.methods", {}), ["defaults.methods", "'method_params'"]),
    ("defaults per method", setting("defaults.method_params", {"eps": 0.1}), ["cell lt/ce", "defaults.method_params.eps"]),
    ("row type", setting("datasets", ["lt"]), ["datasets must be a mapping"]),
    ("row name", setting("methods", {"a/b": {"method": "ce"}}), ["methods.a/b", "not a valid name"]),
    ("no validation", setting("datasets.lt.val_per_class", 0), ["datasets.lt.val_per_class", "validation split"]),
    ("model", setting("datasets.lt.model", "cnn3d"), ["datasets.lt.model", "unknown model"]),
    ("extra seeds type", setting("extra_seeds", [3]), ["extra_seeds must be a mapping"]),
    ("extra seeds key", setting("extra_seeds", {"lpg_scale": [3]}), ["extra_seeds['lpg_scale']", "'dataset/method'"]),
    ("extra seeds no cell", setting("extra_seeds", {"lt/lpg_scal": [3]}), ["extra_seeds['lt/lpg_scal']", "matches no cell",
                                                                           "'lt/lpg_scale'"]),
    ("extra seeds value", setting("extra_seeds", {"lt/ce": 3}), ["extra_seeds['lt/ce']", "non-empty list"]),
    ("extra seeds empty", setting("extra_seeds", {"lt/ce": []}), ["extra_seeds['lt/ce']", "non-empty list"]),
    ("extra seed negative", setting("extra_seeds", {"lt/ce": [3, -1]}), ["extra_seeds['lt/ce'][1]", "integer >= 0"]),
    ("extra seeds repeat", setting("extra_seeds", {"lt/ce": [3, 3]}), ["extra_seeds['lt/ce']", "repeats"]),
    ("extra seeds overlap", setting("extra_seeds", {"lt/*": [1, 2]}), ["extra_seeds['lt/*']", "[1] already in seeds"]),
]


@pytest.mark.parametrize(("edit", "expected"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed_suite_names_the_key_and_the_fix(edit, expected):
    with pytest.raises(UserError) as err:
        build(edit)
    for text in expected:
        assert text in str(err.value), str(err.value)


@pytest.mark.parametrize(("suite_data", "row_data"), [
    ({"noise": "sym_incl"}, {"noise_rate": 0.4}),
    ({"few_threshold": 5}, {"many_threshold": 10}),
], ids=["noise kind in defaults", "few threshold in defaults"])
def test_rules_across_settings_see_the_row_over_the_suite_defaults(suite_data, row_data):
    # Either setting alone breaks a rule against the source's default; the pair that runs does not.
    def edit(data):
        data["defaults"]["data"].update(suite_data)
        data["datasets"]["lt"]["data"] = row_data

    _, cells = build(edit)
    cfg = cells[0].config(0)
    assert {**suite_data, **row_data}.items() <= cfg["data"].items()


def test_duplicate_row_names_are_rejected_with_their_path():
    text = "suite: t\ndatasets: {lt: {imbalance: 10}}\nmethods:\n  ce: {}\n  ce: {params: {}}\n"
    with pytest.raises(UserError, match=r"methods\.ce: duplicate key \(lines 4 and 5\)"):
        parse_suite(text)


def test_invalid_yaml_and_missing_name():
    with pytest.raises(UserError, match="invalid YAML at line 2, column 1: expected ',' or ']'") as err:
        parse_suite("suite: [t\n")
    assert "\n" not in str(err.value) and "opened at line 1" in str(err.value)  # one line, both places
    with pytest.raises(UserError, match="suite: missing"):
        parse_suite("datasets: {}\n")


def test_load_suite_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("suite: t\ndatasets: {lt: {source: mnist1d, imbalance: 0}}\nmethods: {ce: {}}\n")
    with pytest.raises(UserError, match=r"bad\.yaml: datasets\.lt\.imbalance"):
        load_suite(path)


def test_defaults_and_precedence():
    suite, cells = build(setting("datasets.lt.optim", {"lr": 0.05}))
    assert suite.output == Path("results/t") and suite.storage is None
    assert suite.matrix == [("lt", "ce"), ("lt", "lpg_scale")]
    ce, lpg = cells
    cfg = lpg.config(1, {"eps": 0.2})
    assert (cfg["dataset"], cfg["method"], cfg["seed"]) == ("mnist1d", "lpg_scale", 1)
    assert cfg["data"]["num_samples"] == 600 and cfg["data"]["imbalance"] == 10.0  # defaults < row
    assert cfg["optim"]["lr"] == 0.05 and cfg["method_params"]["eps"] == 0.2
    assert ce.space == {} and lpg.space == {"eps": ("log", 0.01, 0.9)}
    assert lpg.first_trial == {"eps": method_defaults("lpg_scale")["eps"]}  # the default goes first


def test_method_row_model_params_reach_its_cells_only():
    """A method row may set model settings (ldam's cosine head); other rows keep theirs."""
    suite, cells = build(setting("methods.ldam_cos", {"method": "ldam", "params": {"s": 30.0},
                                                      "model_params": {"head": "cosine"}}))
    by_method = {c.method: c.config(0, {}) for c in cells}
    assert by_method["ldam_cos"]["model_params"]["head"] == "cosine"
    assert "head" not in by_method["ce"]["model_params"]
    with pytest.raises(UserError, match=r"cell lt/x .*model.haed"):
        build(setting("methods.x", {"method": "ce", "model_params": {"haed": "cosine"}}))


@pytest.mark.parametrize("tune", [False, {}])
def test_tune_false_or_empty_means_no_tuning(tune):
    _, cells = build(setting("methods.lpg_scale.tune", tune))
    assert cells[1].space == {}


def test_declared_search_space_is_the_default():
    data_edit = setting("methods.lpg_scale", {})
    _, cells = build(data_edit)
    assert {"eps", "meta_lr"} <= set(cells[1].space)


def test_study_name_changes_only_with_the_cell():
    _, before = build()
    _, after = build(setting("methods.lpg_scale.params", {"meta_lr": 0.02}))
    assert before[0].study_name == after[0].study_name
    assert before[1].study_name != after[1].study_name
    _, more = build(setting("tuning.trials", 5))  # more trials continue the same study
    assert [c.study_name for c in more] == [c.study_name for c in before]


def test_only_selects_cells_by_glob():
    suite, _ = build()
    assert [c.name for c in expand(suite, "*/lpg*")] == ["lt/lpg_scale"]
    with pytest.raises(UserError, match="matches no cell"):
        expand(suite, "nope/*")


def test_shipped_smoke_suite_is_valid():
    suite = load_suite(SMOKE)
    cells = expand(suite)
    assert suite.tuning.trials == 2 and suite.seeds == [0, 1] and len(cells) >= 6


@pytest.mark.parametrize("path", sorted([*SMOKE.parent.glob("*.yaml"), *SMOKE.parent.glob("studies/*.yaml")]),
                         ids=lambda p: p.name)
def test_every_shipped_suite_loads_and_resolves_every_cell(path):
    cells = expand(load_suite(path))
    assert cells
    for cell in cells:
        cell.config(0, {})  # resolves the run config: a typo in any row fails here


def test_extra_seeds_add_to_the_matched_cells_only_and_keep_their_configs():
    suite, cells = build()
    more, more_cells = build(setting("extra_seeds", {"lt/lpg*": [5, 3], "*/lpg_scale": [3, 4]}))
    assert more.cell_seeds("lt/lpg_scale") == [0, 1, 5, 3, 4]  # the suite's seeds first, then in order
    assert more.cell_seeds("lt/ce") == [0, 1] == suite.cell_seeds("lt/lpg_scale")
    # Tuning (on the tuning seeds) and the configs of the existing seeds are unchanged: their results stay valid.
    for old, new in zip(cells, more_cells, strict=True):
        assert old.study_name == new.study_name
        tuned = {"eps": 0.1} if old.space else {}
        for seed in suite.seeds:
            assert config_hash(old.config(seed, tuned)) == config_hash(new.config(seed, tuned))
