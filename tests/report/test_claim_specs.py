"""A suite's claims: section: checked at load with the key path, carried in runs.json to the report."""

from __future__ import annotations

import csv
import json

import pytest
import yaml
from test_collect import write_result

from lpg_meta.bench import parse_suite
from lpg_meta.errors import UserError
from lpg_meta.report import load_results, write_claims, write_tidy
from lpg_meta.report.claim_specs import DEFAULT_CLAIMS, claim_specs, parse_claims

SUITE = """
suite: t
datasets:
  lt: {source: mnist1d, imbalance: 10}
  bal: {source: mnist1d}
methods:
  ce: {}
  focal: {}
  mine: {method: gce}
seeds: [0, 1, 2]
"""


def suite_with(claims: object) -> str:
    return SUITE + yaml.safe_dump({"claims": claims}, sort_keys=False)


def test_a_declared_claim_is_checked_and_filled_with_defaults():
    suite = parse_suite(suite_with({"mine_wins": {"method": "mine", "baselines": ["ce"], "rope": 0.5}}))
    assert suite.claims == [{"name": "mine_wins", "text": "mine outperforms the baselines", "method": "mine",
                             "baselines": ["ce"], "datasets": None, "metric": "balanced_accuracy", "rope": 0.5,
                             "alpha": 0.05}]
    from lpg_meta.bench.layout import suite_spec  # what the runner hands the report (runs.json)

    assert suite_spec(suite)["claims"] == suite.claims
    (spec,) = claim_specs(suite.claims)
    assert spec.baselines == ("ce",) and spec.alpha == 0.05 and not spec.plug_in
    assert parse_suite(SUITE).claims is None and claim_specs(None) == DEFAULT_CLAIMS


@pytest.mark.parametrize("claims, message", [
    ({"c": {"method": "mien"}}, r"claims\.c\.method: 'mien' is neither a method row nor X .*Did you mean 'mine'"),
    ({"c": {"method": "mine", "baselines": ["cee"]}}, r"claims\.c\.baselines: no row named 'cee'"),
    ({"c": {"method": "mine", "datasets": ["lt2"]}}, r"claims\.c\.datasets: no row named 'lt2'"),
    ({"c": {"method": "mine", "alpha": 0.5}}, r"claims\.c\.alpha must be a number in \(0, 0\.5\)"),
    ({"c": {"method": "mine", "alpha": True}}, r"claims\.c\.alpha must be a number"),
    ({"c": {"method": "mine", "rope": -1}}, r"claims\.c\.rope must be a number of metric points >= 0"),
    ({"c": {"method": "mine", "metric": "acc"}}, r"claims\.c\.metric: unknown metric 'acc'"),
    ({"c": {"method": "mine", "ropes": 1}}, r"claims\.c\.ropes: unknown key"),
    ({"c": {"method": "X", "baselines": ["ce"]}}, r"claims\.c\.baselines: a plug-in claim"),
    ([1], r"claims must be a mapping"),
])
def test_a_bad_claims_section_names_its_key_path(claims, message):
    with pytest.raises(UserError, match=message) as err:
        parse_suite(suite_with(claims))
    assert "\n" not in str(err.value)


def test_a_bad_claims_section_exits_2_before_anything_runs(tmp_path, capsys):
    from lpg_meta.cli import main

    path = tmp_path / "s.yaml"
    path.write_text(suite_with({"c": {"method": "mine", "alpha": 2}}))
    assert main(["run", str(path), "--dry-run"]) == 2
    assert "claims.c.alpha must be a number in (0, 0.5)" in capsys.readouterr().err


def test_declared_claims_travel_in_runs_json_and_decide_the_report(tmp_path):
    # "mine" (gce) against ce only, on the one row; the suite's default claims would compare nothing
    for s in (0, 1, 2):
        write_result(tmp_path / "r", "bal", "ce", s, balanced=0.70 + 0.01 * s)
        write_result(tmp_path / "r", "bal", "focal", s, method="focal", balanced=0.90)
        write_result(tmp_path / "r", "bal", "mine", s, method="gce", balanced=0.75 + 0.011 * s)
    claims = parse_claims({"mine_wins": {"method": "mine", "baselines": ["ce"], "rope": 2.0}}, ["bal"],
                          ["ce", "focal", "mine"])
    spec = {"suite": "t", "datasets": {}, "methods": {}, "tables": None, "claims": claims}
    out = tmp_path / "tidy"
    write_tidy(load_results(tmp_path / "r", spec), out)
    assert json.loads((out / "runs.json").read_text())["claims"] == claims
    write_claims(load_results(out / "runs.csv"), out)  # no spec: the claims come from runs.json
    (row,) = csv.DictReader((out / "claims.csv").open())
    assert (row["claim"], row["method"], row["baseline"], row["verdict"]) == ("mine_wins", "mine", "ce", "supported")
    (summary,) = csv.DictReader((out / "claims_summary.csv").open())
    assert summary["rope"] == "2.0" and summary["verdict"] == "cannot be decided with 1 row"
