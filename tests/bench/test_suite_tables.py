"""The suite's ``tables:`` section and the layout the report receives (display names from the classes)."""

from __future__ import annotations

import pytest
import yaml

from lpg_meta.bench.layout import suite_spec
from lpg_meta.bench.schema import parse_suite
from lpg_meta.catalog import method_display_name
from lpg_meta.errors import UserError
from lpg_meta.methods import METHODS

SUITE = """
suite: t
datasets:
  lt: {source: mnist1d, imbalance: 10}
  bal: {source: digits}
methods:
  ce: {}
  la: {}
  lpg: {}
  lpg+la: {}
seeds: [0, 1]
"""
TABLES = """
tables:
  main:
    datasets: [bal, {lt: "MNIST-1D-LT (ρ = 10)"}]
    methods:
      Baselines: [ce, la]
      LPG: [lpg, {lpg+la: "LPG+LA (ours)"}]
    extra: [shots]
    caption: Main results
    reference: ce
"""


def test_tables_section_is_plain_data_with_groups_and_overrides():
    spec = suite_spec(parse_suite(SUITE + TABLES))
    assert list(spec["datasets"]) == ["lt", "bal"] and spec["datasets"]["bal"]["display"] == "Digits"
    assert spec["methods"]["lpg+la"] == {"display": "LPG+LA", "method": "lpg+la", "declared": False,
                                      "search_space": spec["methods"]["lpg+la"]["search_space"]}
    assert "eps" in spec["methods"]["lpg+la"]["search_space"] and spec["tuning"]["trials"] == 20
    (table,) = spec["tables"]
    assert table["groups"] == [["Baselines", ["ce", "la"]], ["LPG", ["lpg", "lpg+la"]]]
    assert table["datasets"] == ["bal", "lt"] and table["extra"] == ["shots"] and table["reference"] == "ce"
    assert table["display"] == {"lt": "MNIST-1D-LT (ρ = 10)", "lpg+la": "LPG+LA (ours)"}
    assert table["caption"] == "Main results" and table["label"] is None
    assert suite_spec(parse_suite(SUITE))["tables"] is None  # default: one table per protocol


@pytest.mark.parametrize("name", METHODS.names())
def test_every_method_declares_a_display_name(name):
    assert METHODS.get(name).display_name, f"{name} has no display_name"


def test_plug_in_display_names_compose():
    assert method_display_name("lpg+ldam_drw") == "LPG+LDAM-DRW" and method_display_name("mwnet") == "MW-Net"


@pytest.mark.parametrize("edit, expected", [
    ("    datasets: [bal, lx]", r"tables.main.datasets\[1\]: no row named 'lx'.*Did you mean 'lt'"),
    ("    metric: acc", r"tables.main.metric: unknown metric 'acc'"),
    ("    extra: [shot]", r"tables.main.extra must be a list of shots and peak"),
    ("    reference: gce", r"tables.main.reference: 'gce' is not one of the table's methods"),
    ("    colour: red", r"tables.main.colour: unknown key"),
])
def test_mistakes_in_tables_name_the_key(edit, expected):
    key = edit.split(":")[0]
    lines = [line for line in TABLES.splitlines() if not line.startswith(key + ":")]
    with pytest.raises(UserError, match=expected):
        parse_suite(SUITE + "\n".join(lines + [edit]) + "\n")


def test_a_method_in_two_groups_is_rejected():
    data = yaml.safe_load(SUITE + TABLES)
    data["tables"]["main"]["methods"]["LPG"].append("ce")
    with pytest.raises(UserError, match="tables.main.methods: a method appears in two groups"):
        parse_suite(yaml.safe_dump(data, allow_unicode=True))


def test_each_row_gets_one_name_unique_across_the_suite():
    # A new row of an existing method with no display of its own (the README's recipe) shows its
    # row name; a row that declares one keeps it; the class's name stays with the first row.
    from pathlib import Path

    from lpg_meta.report.layout import layout_from_dict

    smoke = yaml.safe_load((Path(__file__).resolve().parents[2] / "benchmarks" / "smoke.yaml").read_text())
    smoke["methods"]["ce_bar_row"] = {"method": "ce"}
    smoke["methods"]["lpg_norm"] = {"method": "lpg", "display": "LPG (norm.)"}
    layout = layout_from_dict(suite_spec(parse_suite(yaml.safe_dump(smoke, allow_unicode=True))))
    names = layout.method_names()
    assert names["ce"] == "CE" and names["ce_bar_row"] == "ce_bar_row"
    assert names["lpg"] == "LPG" and names["lpg_norm"] == "LPG (norm.)"
    assert len(set(names.values())) == len(names)


def test_two_rows_declaring_one_display_name_are_rejected():
    suite = SUITE.replace("  la: {}", "  la: {display: Mine}").replace("  lpg: {}", "  lpg: {display: Mine}")
    with pytest.raises(UserError, match=r"methods.lpg.display: 'Mine' is already the display name of methods.la"):
        parse_suite(suite)
