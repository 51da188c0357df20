"""Claims across data set rows: the signed-rank test equals scipy's, the Bayesian one baycomp's."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from lpg_meta.report.across import SIGNED_RANK, across_rows, bayes_signed_rank, rows_needed, signed_rank


def test_rows_needed_is_where_the_exact_two_sided_p_can_first_reach_alpha():
    # all N rows agreeing gives the smallest exact p, 2 / 2^N: 0.0625 with 5 rows, 0.03125 with 6
    assert rows_needed(0.05) == 6 and rows_needed(0.1) == 5 and rows_needed(0.01) == 8
    assert stats.wilcoxon([1, 2, 3, 4, 5], method="exact").pvalue == pytest.approx(0.0625)
    assert stats.wilcoxon([1, 2, 3, 4, 5, 6], method="exact").pvalue == pytest.approx(0.03125)


def test_signed_rank_equals_scipy_exact_and_decides_only_with_enough_rows():
    d = [1.5, -0.2, 3.1, 0.7, 2.2, 4.0, 0.9, 1.1]
    test, statistic, p = signed_rank(np.array(d))
    exact = stats.wilcoxon(d, method="exact")
    assert test == SIGNED_RANK and statistic == exact.statistic == 1.0 and p == exact.pvalue  # 2 * 2/256
    assert across_rows(d, 1.0, 0.05).verdict == "supported" and across_rows(d, 1.0, 0.05).p_value == p
    assert across_rows([-x for x in d], 1.0, 0.05).verdict == "contradicted"
    assert across_rows([-x for x in d], 1.0, 0.05, higher_is_better=False).verdict == "supported"  # e.g. error
    five = across_rows(d[:5], 1.0, 0.05)
    assert five.verdict == "cannot be decided with 5 rows" and five.p_value is None and five.p_better is not None
    assert across_rows([1.0, -1.0, 2.0, -2.0, 0.5, -0.6], 1.0, 0.05).verdict == "not supported"
    zeros = signed_rank(np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0]))
    assert "approximation" in zeros[0]  # a zero difference rules the exact distribution out


@pytest.mark.parametrize("rope", [0.0, 0.5, 1.0])
def test_bayesian_signed_rank_equals_baycomp(rope):
    baycomp = pytest.importorskip("baycomp")
    d = np.array([1.2, -0.5, 3.0, 0.7, 2.2, -1.0, 0.1, 4.0])
    # baycomp samples y - x: x the baseline, y the method, so its (left, rope, right) is (worse, rope, better)
    sample = baycomp.multiple.SignedRankTest.sample(np.zeros(len(d)), d, rope, nsamples=20000, random_state=3)
    left, middle, right = baycomp.multiple.Posterior(sample).probs()
    assert bayes_signed_rank(d, rope, samples=20000, seed=3) == (right, middle, left)


def test_bayesian_signed_rank_by_hand_for_one_row():
    # one row d = 3 and the pseudo-row 0 (weight 0.5): Walsh sums 0, 3, 6 with weights w0^2, 2 w0 w1, w1^2;
    # with rope 1 (2 rope = 2) the mass above is 2 w0 w1 + w1^2 = 1 - w0^2, which wins unless w0^2 > 1/2
    p_better, p_rope, p_worse = bayes_signed_rank(np.array([3.0]), 1.0, samples=40000)
    # P(w0^2 > 1/2) for w0 ~ Beta(0.5, 1): P(w0 > 0.7071) = 1 - 0.7071^0.5 = 0.1591
    assert p_rope == pytest.approx(1 - 0.5 ** 0.25, abs=0.01) and p_worse == 0.0
    assert p_better == pytest.approx(0.5 ** 0.25, abs=0.01)
