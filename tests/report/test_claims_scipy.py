"""On the committed runs.csv: every p-value the claims report prints is scipy.stats' for the stated test."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from lpg_meta.report.across import SIGNED_RANK
from lpg_meta.report.claims import summarize
from lpg_meta.report.claims_render import render_claims_csv, render_summary_csv
from lpg_meta.report.tidy import load_results

RESULTS = Path(__file__).resolve().parents[2] / "results" / "cpu"


@pytest.fixture(scope="module")
def committed():
    values: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    for r in csv.DictReader((RESULTS / "runs.csv").open()):
        if r["split"] == "test" and r["metric"] == "balanced_accuracy":
            values[(r["dataset"], r["method"])][int(r["seed"])] = float(r["value"])
    return values, summarize(load_results(RESULTS / "runs.csv"), bayes_samples=2000)


def test_comparison_p_values_are_scipy_paired_t_on_the_common_seeds(committed):
    values, summaries = committed
    tested = 0
    for s in summaries:
        for c in s.comparisons:
            a, b = values[(c.dataset, c.method)], values[(c.dataset, c.baseline)]
            seeds = sorted(set(a) & set(b))
            assert list(c.result.seeds) == seeds
            if c.result.test == "paired t (two-sided)":
                assert c.result.p_value == stats.ttest_rel([a[x] for x in seeds], [b[x] for x in seeds]).pvalue
                tested += 1
    assert tested >= 100


def test_across_rows_p_values_are_scipy_wilcoxon_on_the_row_means(committed):
    values, summaries = committed
    decided = [s for s in summaries if s.across.p_value is not None]
    assert decided  # the 8 rows of all protocols together
    for s in decided:
        rows = []
        for ds in dict.fromkeys(c.dataset for c in s.counted):
            diffs = [np.mean([values[(ds, c.method)][x] - values[(ds, c.baseline)][x] for x in c.result.seeds])
                     for c in s.counted if c.dataset == ds]
            rows.append(100 * float(np.mean(diffs)))
        assert s.row_diffs == pytest.approx(rows, rel=1e-9)
        assert s.across.test == SIGNED_RANK
        assert s.across.p_value == stats.wilcoxon(s.row_diffs, method="exact").pvalue


def test_the_committed_claims_are_a_function_of_the_committed_runs_csv(committed):
    _, summaries = committed
    claims = [c for s in summaries if s.protocol != "all" for c in s.comparisons]
    assert render_claims_csv(claims) == (RESULTS / "claims.csv").read_text()
    full = summarize(load_results(RESULTS / "runs.csv"))  # the Bayesian test at its default sample count
    assert render_summary_csv(full) == (RESULTS / "claims_summary.csv").read_text()


def test_per_baseline_tests_over_rows_are_scipy_wilcoxon_with_holm(committed):
    values, summaries = committed
    (everything,) = [s for s in summaries if s.protocol == "all" and s.spec.name == "outperforms"]
    pairs = {(m, b): (t, q) for m, b, t, q in everything.by_pair(bayes_samples=2000)}
    t, q = pairs[("lpg", "ce")]
    rows = [c for c in everything.counted if (c.method, c.baseline) == ("lpg", "ce")]
    diffs = [100 * c.result.mean_diff for c in rows]
    assert t.n == 8 and t.p_value == stats.wilcoxon(diffs, method="exact").pvalue
    decided = [p.p_value for p, _ in pairs.values() if p.p_value is not None]
    assert q == min(1.0, max(sorted(decided)[i] * (len(decided) - i) for i in range(sorted(decided).index(t.p_value)
                                                                                       + 1)))
