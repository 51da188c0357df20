"""Tidy data (runs.csv) gives the same tables and claims as the result files; claims match scipy."""

from __future__ import annotations

import csv
import json
from collections import defaultdict

import numpy as np
import pytest
from scipy import stats
from test_collect import write_result
from test_tables import SPEC, noisy_history, three_protocols

from lpg_meta.errors import UserError
from lpg_meta.report import leaderboard, load_results, write_claims, write_tidy
from lpg_meta.report.claims import check_claims
from lpg_meta.report.claims_render import CLAIMS_FIELDS, SUMMARY_FIELDS
from lpg_meta.report.tidy import RUN_FIELDS


@pytest.fixture
def folder(tmp_path):
    root = three_protocols(tmp_path / "results")
    for s in (0, 1):  # a noisy row with per-epoch history, and a failed run
        write_result(root, "noisy2", "ce", s, noise="pair", noise_rate=0.2, balanced=0.5,
                     history=noisy_history(0.7, 0.5))
    write_result(root, "noisy2", "ce", 2, status="failed", failure={"reason": "loss is NaN", "epoch": 1})
    return root


def test_runs_csv_is_tidy_with_peaks_only_on_noisy_rows(folder, tmp_path):
    out = tmp_path / "tidy"
    write_tidy(load_results(folder, SPEC), out)
    rows = list(csv.DictReader((out / "runs.csv").open()))
    assert tuple(rows[0]) == RUN_FIELDS == ("suite", "dataset", "method", "seed", "split", "metric", "value")
    peaks = {(r["dataset"], r["metric"]) for r in rows if r["metric"].startswith("peak_")}
    assert {d for d, _ in peaks} == {"noisy", "noisy2"}
    assert next(float(r["value"]) for r in rows if (r["dataset"], r["metric"], r["seed"], r["split"]) ==
                ("noisy2", "peak_accuracy", "1", "test")) == 0.7
    assert json.loads((out / "runs.json").read_text())["failures"] == [["noisy2", "ce", 2, "loss is NaN", 1]]


def test_tables_and_claims_are_identical_from_result_files_and_runs_csv(folder, tmp_path, latex):
    out = tmp_path / "tidy"
    write_tidy(load_results(folder, SPEC), out)
    for fmt in ("md", "latex", "csv"):
        assert leaderboard(out / "runs.csv", fmt) == leaderboard(folder, fmt, spec=SPEC)
        assert leaderboard(out, fmt) == leaderboard(out / "runs.csv", fmt)  # a folder holding only runs.csv
    a = write_claims(load_results(folder, SPEC), tmp_path / "from_files")
    b = write_claims(load_results(out / "runs.csv"), tmp_path / "from_csv")
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    latex(leaderboard(out / "runs.csv", "latex"), tmp_path / "tex")  # three tables, one with a failed run


def test_claims_csv_p_values_equal_scipy_on_runs_csv(folder, tmp_path):
    out = tmp_path / "tidy"
    write_tidy(load_results(folder, SPEC), out)
    write_claims(load_results(out / "runs.csv"), out)
    claims = list(csv.DictReader((out / "claims.csv").open()))
    assert tuple(claims[0]) == CLAIMS_FIELDS
    values = defaultdict(dict)
    for r in csv.DictReader((out / "runs.csv").open()):
        if r["split"] == "test":
            values[(r["dataset"], r["method"], r["metric"])][int(r["seed"])] = float(r["value"])
    tested = 0
    for c in claims:
        a, b = values[(c["dataset"], c["method"], c["metric"])], values[(c["dataset"], c["baseline"], c["metric"])]
        seeds = sorted(set(a) & set(b))
        if c["test"] != "paired t (two-sided)":
            continue  # constant differences: no t statistic (stats.paired)
        assert float(c["p_value"]) == stats.ttest_rel([a[s] for s in seeds], [b[s] for s in seeds]).pvalue
        assert int(c["n"]) == len(seeds) and float(c["mean_diff"]) == pytest.approx(
            sum(a[s] - b[s] for s in seeds) / len(seeds), abs=1e-15)
        tested += 1
    assert tested >= 2
    verdicts = {(c["dataset"], c["method"], c["baseline"]): c["verdict"] for c in claims}
    # lpg - ce on bal_a: +5, +5.1, +5.4 points (p = 0.002); on bal_b -2, -1, 0 (p = 0.18)
    assert verdicts[("bal_a", "lpg", "ce")] == "supported" and verdicts[("bal_b", "lpg", "ce")] == "not supported"
    assert verdicts[("lt", "lpg+la", "la")] == "supported"  # +2 points on every seed (constant difference)
    assert set(verdicts) == {("bal_a", "lpg", "ce"), ("bal_b", "lpg", "ce"), ("noisy", "lpg", "ce"),
                             ("lt", "lpg+la", "la")}


def test_claims_summary_counts_verdicts_per_protocol(folder, latex):
    results = load_results(folder, SPEC)
    claims = check_claims(results)
    assert [c.verdict for c in claims if c.dataset == "noisy"] == ["supported"]  # 60 vs 50/51/52
    write_claims(results, folder)
    summary = {(r["protocol"], r["claim"]): r for r in csv.DictReader((folder / "claims_summary.csv").open())}
    assert tuple(next(iter(summary.values()))) == SUMMARY_FIELDS
    balanced = summary[("balanced", "outperforms")]
    assert (balanced["n_datasets"], balanced["n_comparisons"], balanced["comparisons_supported"],
            balanced["comparisons_not_supported"]) == ("2", "2", "1", "1")
    assert balanced["verdict"] == "cannot be decided with 2 rows" and balanced["rows_needed"] == "6"
    assert summary[("long-tail", "plug_in")]["comparisons_supported"] == "1"
    text = (folder / "claims.md").read_text()
    assert "4 more data set rows of this protocol" in text
    latex((folder / "claims.tex").read_text(), folder / "tex")


def test_a_runs_csv_needs_its_header_and_runs_json(folder, tmp_path):
    out = tmp_path / "tidy"
    write_tidy(load_results(folder, SPEC), out)
    (out / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(UserError, match="is not a runs.csv: its header must be suite,dataset,method"):
        load_results(out / "other.csv")
    (out / "runs.json").unlink()
    with pytest.raises(UserError, match="runs.json beside it"):
        load_results(out / "runs.csv")


def test_a_significant_loss_is_contradicted_and_one_row_decides_no_protocol_claim(tmp_path):
    for s in (0, 1, 2):
        write_result(tmp_path, "bal", "ce", s, balanced=0.80 + 0.01 * s)
        write_result(tmp_path, "bal", "gce", s, method="gce", balanced=0.50 + 0.02 * s)
        write_result(tmp_path, "bal", "lpg", s, method="lpg", balanced=0.70 + 0.011 * s)  # -10 vs ce, +20 vs gce
    results = load_results(tmp_path)
    assert [c.verdict for c in check_claims(results)] == ["contradicted", "supported"]
    write_claims(results, tmp_path)
    (row,) = csv.DictReader((tmp_path / "claims_summary.csv").open())
    assert (row["comparisons_supported"], row["comparisons_contradicted"]) == ("1", "1")
    assert row["verdict"] == "cannot be decided with 1 row"  # one data set is no sample of data sets


def test_claims_count_collapsed_runs_of_the_compared_cells(tmp_path):
    def curve(values):
        return [{"epoch": e + 1, "test_accuracy": v, "test_balanced_accuracy": v} for e, v in enumerate(values)]

    write_result(tmp_path, "pair", "lpg", 0, method="lpg", balanced=0.66, history=curve([0.5, 0.6, 0.3, 0.66]))
    write_result(tmp_path, "pair", "lpg", 1, method="lpg", balanced=0.40, history=curve([0.5, 0.65, 0.14, 0.40]))
    for seed in (0, 1):
        write_result(tmp_path, "pair", "ce", seed, balanced=0.55, history=curve([0.5, 0.67, 0.55]))
    write_claims(load_results(tmp_path), tmp_path / "out")
    text = (tmp_path / "out" / "claims.md").read_text()
    assert "lpg on pair 1/2, of 4 runs of the compared cells" in text


def test_holm_within_a_family_mde_and_common_seeds_are_in_claims_csv(tmp_path):
    # ce on seeds 0-4, the baselines on 0-2: the lpg comparisons run on the common seeds only
    for s in range(5):
        write_result(tmp_path, "bal", "ce", s, balanced=0.70 + 0.013 * s)
        write_result(tmp_path, "bal", "lpg", s, method="lpg", balanced=0.72 + 0.01 * s + 0.003 * (s % 2))
    for s in range(3):
        write_result(tmp_path, "bal", "gce", s, method="gce", balanced=0.60 + 0.02 * s)
    write_claims(load_results(tmp_path), tmp_path)
    rows = {r["baseline"]: r for r in csv.DictReader((tmp_path / "claims.csv").open())}
    lpg = [0.72 + 0.01 * s + 0.003 * (s % 2) for s in range(5)]
    p_ce = stats.ttest_rel(lpg, [0.70 + 0.013 * s for s in range(5)]).pvalue
    p_gce = stats.ttest_rel(lpg[:3], [0.60 + 0.02 * s for s in range(3)]).pvalue
    low, high = sorted((p_ce, p_gce))
    adjusted = {p_ce: None, p_gce: None}
    adjusted[low], adjusted[high] = 2 * low, max(2 * low, high)  # Holm by hand, m = 2
    assert float(rows["ce"]["p_adjusted"]) == pytest.approx(adjusted[p_ce], rel=1e-12)
    assert float(rows["gce"]["p_adjusted"]) == pytest.approx(adjusted[p_gce], rel=1e-12)
    assert (rows["gce"]["n"], rows["gce"]["seeds"], rows["gce"]["n_method"], rows["gce"]["n_baseline"]) == \
        ("3", "0 1 2", "5", "3")
    assert rows["ce"]["seeds"] == "0 1 2 3 4"
    diffs = [a - (0.60 + 0.02 * s) for s, a in enumerate(lpg[:3])]
    sd = float(np.std(diffs, ddof=1))
    # MDE at alpha / m = 0.025, 2 df: (t_0.9875,2 + t_0.8,2) * sd / sqrt(3)
    expected = (stats.t.ppf(1 - 0.025 / 2, 2) + stats.t.ppf(0.8, 2)) * sd / np.sqrt(3)
    assert float(rows["gce"]["mde"]) == pytest.approx(expected, rel=1e-12)
    text = (tmp_path / "claims.md").read_text()
    assert "| 3*  |" in text and "common seeds only" in text


def test_a_baseline_identical_to_another_is_listed_but_counted_once(tmp_path):
    for s in range(3):
        write_result(tmp_path, "bal", "ce", s, balanced=0.70 + 0.013 * s)
        write_result(tmp_path, "bal", "clip", s, method="grad_clip", balanced=0.70 + 0.013 * s)  # same bits
        write_result(tmp_path, "bal", "gce", s, method="gce", balanced=0.60 + 0.02 * s)
        write_result(tmp_path, "bal", "lpg", s, method="lpg", balanced=0.75 + 0.011 * s)
    results = load_results(tmp_path)
    claims = {c.baseline: c for c in check_claims(results)}
    assert claims["clip"].same_as == "ce" and claims["ce"].same_as is None
    # m = 2 (ce and gce): clip adds no hypothesis and takes ce's adjusted p and verdict
    p = {b: claims[b].result.p_value for b in ("ce", "gce")}
    assert claims["ce"].p_adjusted == pytest.approx(2 * min(p.values()) if p["ce"] <= p["gce"] else
                                                    max(2 * p["gce"], p["ce"]))
    assert claims["clip"].p_adjusted == claims["ce"].p_adjusted and claims["clip"].verdict == claims["ce"].verdict
    write_claims(results, tmp_path)
    (summary,) = [r for r in csv.DictReader((tmp_path / "claims_summary.csv").open())]
    assert summary["n_comparisons"] == "2"
    assert "clip = ce on bal" in (tmp_path / "claims.md").read_text()
    table = leaderboard(tmp_path)
    assert "clip = ce on bal" in table and "(=)" in table


def test_row_minutes_sums_the_recorded_training_time_of_a_row(tmp_path):
    from lpg_meta.report.claims_render import row_minutes
    from lpg_meta.report.tidy import TIMING

    results = load_results(three_protocols(tmp_path / "results"), SPEC)
    assert row_minutes(results, "noisy") is None  # these result files record no timing
    results.values[("noisy", "ce", TIMING, "seconds")] = {0: 30.0, 1: 90.0}
    results.values[("noisy", "lpg", TIMING, "seconds")] = {0: 60.0}
    results.values[("other", "ce", TIMING, "seconds")] = {0: 600.0}
    assert row_minutes(results, "noisy") == pytest.approx((30 + 90 + 60) / 60)
