"""Every declared setting of every registered entry is checked when a suite loads, before anything trains.

Generated over the declarations (``lpg_meta/catalog``, ``config.OPTIM_PARAMS`` / ``TRAIN_PARAMS``):
for each bounded setting, a suite that sets it outside its range, and a suite whose search space
reaches outside it, exit 2 with one line naming the key path and the valid range, and write
nothing (``lpg-meta run`` and ``lpg-meta run --dry-run``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from lpg_meta.cli import main
from lpg_meta.config import OPTIM_PARAMS, TRAIN_PARAMS, resolve_config
from lpg_meta.errors import UserError
from lpg_meta.params import Param
from lpg_meta.registry import DATASETS, METHODS, MODELS


def _cases() -> list[tuple[str, str, str, Param]]:
    """Every bounded setting; one declared for several entries (the common data settings, LPG's
    meta settings) is one object, tried on the first entry that declares it."""
    out = [("optim", "", key, p) for key, p in OPTIM_PARAMS.items() if p.bounded]
    out += [("train", "", key, p) for key, p in TRAIN_PARAMS.items() if p.bounded]
    seen: set[tuple[str, str, int]] = set()
    for kind, registry in (("method", METHODS), ("data", DATASETS), ("model", MODELS)):
        for name in registry.names():
            for key, p in registry.declaration(name).params.items():
                if p.bounded and (kind, key, id(p)) not in seen:
                    seen.add((kind, key, id(p)))
                    out.append((kind, name, key, p))
    return out


CASES = _cases()
IDS = [f"{kind}:{name}.{key}" if name else f"{kind}.{key}" for kind, name, key, _ in CASES]


def outside(param: Param) -> Any:
    """A value of the setting's type just outside its declared range."""
    if param.choices is not None:
        return f"not_{param.default}"
    whole = isinstance(param.default, int)
    if param.low is not None:
        value = param.low if param.low_open else param.low - 1
    else:
        value = param.high if param.high_open else param.high + 1
    return int(value) if whole else float(value)


def reaching_out(param: Param) -> list[Any]:
    """A search space (YAML form) from the default to just outside the range."""
    if param.choices is not None:
        return ["categorical", [param.default, outside(param)]]
    ends = sorted([param.default, outside(param)])
    return ["int" if isinstance(param.default, int) else "float", *ends]


def suite(kind: str, name: str, settings: dict[str, Any], tune: dict[str, Any] | None = None) -> dict[str, Any]:
    """A one-cell suite with ``settings`` put where ``kind``'s settings go."""
    data = {"source": "mnist1d", "imbalance": 10, "meta_per_class": 5}
    method: dict[str, Any] = {"method": "ce"}
    defaults: dict[str, Any] = {"data": {"num_samples": 600}, "train": {"epochs": 1, "progress": "none"}}
    if kind == "method":
        method = {"method": name, "params": settings}
    elif kind == "data":
        data = {"source": name, "data": {"meta_per_class": 5, **settings}}
        defaults = {"train": defaults["train"]}
    elif kind == "model":
        data["model"] = name
        data["model_params"] = settings
    else:
        defaults[kind] = {**defaults.get(kind, {}), **settings}
    if tune is not None:
        method["tune"] = tune
    return {"suite": "t", "defaults": defaults, "datasets": {"d": data}, "methods": {"m": method},
            "seeds": [0], "tuning": {"trials": 2}}


def run_refused(tmp_path: Path, data: dict[str, Any], dry_run: bool, capsys: pytest.CaptureFixture[str]) -> str:
    """Run the suite; assert exit 2 and that nothing but the suite file exists; return the message."""
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump({**data, "output": str(tmp_path / "out")}, sort_keys=False))
    assert main(["run", str(path), *(["--dry-run"] if dry_run else [])]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["suite.yaml"]
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


@pytest.mark.parametrize(("kind", "name", "key", "param"), CASES, ids=IDS)
def test_a_value_outside_its_range_is_refused_before_training(tmp_path, capsys, kind, name, key, param):
    err = run_refused(tmp_path, suite(kind, name, {key: outside(param)}), False, capsys)
    assert f".{key} must be {param.range_text()}" in err, err


# The dry run loads the suite the same way: one setting of each kind is enough to show it.
FIRST_OF_KIND = [next(c for c in CASES if c[0] == kind) for kind in dict.fromkeys(c[0] for c in CASES)]


@pytest.mark.parametrize(("kind", "name", "key", "param"), FIRST_OF_KIND, ids=[c[0] for c in FIRST_OF_KIND])
def test_the_dry_run_refuses_a_value_outside_its_range(tmp_path, capsys, kind, name, key, param):
    err = run_refused(tmp_path, suite(kind, name, {key: outside(param)}), True, capsys)
    assert f".{key} must be {param.range_text()}" in err, err


TUNABLE = [(kind, name, key, p) for kind, name, key, p in CASES if kind in ("method", "optim")]


@pytest.mark.parametrize(("kind", "name", "key", "param"), TUNABLE,
                         ids=[i for i, c in zip(IDS, CASES, strict=True) if c[0] in ("method", "optim")])
def test_a_search_space_reaching_outside_the_range_is_refused(tmp_path, capsys, kind, name, key, param):
    tuned = key if kind == "method" else f"optim.{key}"
    err = run_refused(tmp_path, suite(kind, name, {}, {tuned: reaching_out(param)}), False, capsys)
    assert f"tune.{tuned}: " in err and f"outside the valid range {param.range_text()}" in err, err


@pytest.mark.parametrize(("kind", "name", "key", "param"), CASES, ids=IDS)
def test_every_declared_default_and_search_space_lies_in_its_range(kind, name, key, param):
    assert param.admits(param.default)
    if param.space is not None:
        ends = param.space[1] if param.space[0] == "categorical" else param.space[1:]
        assert all(param.admits(v) for v in ends)


def test_import_lpg_meta_lists_every_entry_without_torch():
    code = ("import sys, lpg_meta; print(len(lpg_meta.METHODS.names()), len(lpg_meta.DATASETS), "
            "len(lpg_meta.MODELS), 'torch' in sys.modules, 'lpg' in lpg_meta.METHODS)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(len(METHODS)), str(len(DATASETS)), str(len(MODELS)), "False", "True"]
    assert len(METHODS) >= 20 and len(DATASETS) >= 5 and len(MODELS) >= 5


@pytest.mark.parametrize("name", METHODS.names())
def test_each_declared_method_is_implemented_where_declared(name):
    declaration = METHODS.declaration(name)
    cls = METHODS.get(name)
    assert cls.__module__ == declaration.module and cls.declaration is declaration and cls.name == name
    assert cls.defaults == declaration.defaults() and cls.kind == declaration.role


def test_a_rule_across_settings_is_checked_when_the_config_resolves():
    with pytest.raises(UserError, match=r"method.lpl_eps / method.lpl_alpha gives 2000 steps per batch"):
        resolve_config({"method": "lpg+lpl", "method_params": {"lpl_eps": 20.0}})
    assert resolve_config({"method": "lpl", "method_params": {"lpl_eps": 10.0}})["method_params"]["lpl_eps"] == 10.0
