"""``lpg-meta list`` / ``show NAME`` read the declarations (no torch); ``run --print-config`` prints a cell's config."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from lpg_meta.bench import expand, load_suite
from lpg_meta.cli import main
from lpg_meta.registry import DATASETS, METHODS, MODELS
from lpg_meta.results import config_hash


@pytest.mark.parametrize("name", [*METHODS.names(), *DATASETS.names(), *MODELS.names(), "lpg+la"])
def test_show_prints_every_declared_setting_with_default_range_and_space(name, capsys):
    assert main(["show", name]) == 0
    out = capsys.readouterr().out
    registry = next(r for r in (METHODS, DATASETS, MODELS) if name.split("+")[0] in r)
    declared = registry.declaration(name.split("+")[0])
    assert out.startswith(f"{name} (") and declared.description in out
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ") and ":" not in line}
    for key, param in declared.params.items():
        assert key in rows, key
        if param.bounded:
            assert param.range_text() in rows[key]
        if param.space is not None:
            assert f"[{param.space[0]}, " in rows[key]


def test_show_of_lpg_gives_eps_its_range_and_log_space(capsys):
    assert main(["show", "lpg"]) == 0
    eps = next(line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("eps "))
    assert eps.split()[:6] == ["eps", "0.5", "[0,", "1)", "[log,", "0.001,"]


def test_show_of_an_unknown_name_suggests_the_closest(capsys):
    assert main(["show", "lpgg"]) == 2
    assert "Did you mean 'lpg'" in capsys.readouterr().err


def test_list_and_show_do_not_load_torch():
    code = ("import sys; from lpg_meta.cli import main; main(['list']); main(['show', 'lpg+sam']); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[-1] == "False" and "LPG-rule" in out and "step cost x2" in out


def test_print_config_prints_the_resolved_config_of_a_cell(capsys):
    assert main(["run", "smoke", "--print-config", "longtail/lpg", "--set", "train.epochs=3"]) == 0
    out = capsys.readouterr().out
    suite = load_suite("smoke")
    cell = next(c for c in expand(suite) if c.name == "longtail/lpg")
    expected = cell.config(suite.seeds[0], cell.first_trial)
    expected["train"]["epochs"] = 3
    assert yaml.safe_load(out) == expected
    assert out.splitlines()[0].startswith(f"# longtail/lpg: config hash {config_hash(expected)}; tuned: ")


def test_print_config_names_its_flag_when_no_cell_matches(capsys):
    assert main(["run", "smoke", "--print-config", "longtail/lpgg"]) == 2
    assert "--print-config 'longtail/lpgg' matches no cell. Did you mean 'longtail/lpg'" in capsys.readouterr().err
