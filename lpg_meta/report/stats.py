"""Statistics for tables and claims (METHOD.md 8; Demšar 2006, JMLR 7).

Runs of different methods with the same seed share the data split, the label noise and the
initialisation, so two methods are compared **paired by seed**: a two-sided paired t-test on
the per-seed differences (``scipy.stats.ttest_rel``). With 3 seeds only the t-test has any
power; a Wilcoxon signed-rank test cannot reach p < 0.05 (two-sided) below 6 pairs. With 2
pairs the t-test has 1 degree of freedom (significant only when |t| > 12.71); with 1 pair, or
none, there is no test (p is None).

Across data sets: average ranks, Friedman's test in Demšar's form (his eq. for chi^2_F from
the average ranks, and Iman and Davenport's F_F) and Nemenyi's critical difference, whose
q_alpha is the studentized range quantile over sqrt(2) (``scipy.stats.studentized_range``),
the values of Demšar's Table 5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

ALPHA = 0.05
TEST_NAME = "paired t (two-sided)"


@dataclass(frozen=True)
class Paired:
    """A paired comparison of ``a`` against ``b`` over the seeds both have."""

    n: int
    mean_diff: float | None  # mean of a - b
    ci_low: float | None  # 95 % t interval of the mean difference (None below 2 pairs)
    ci_high: float | None
    p_value: float | None  # None: no test possible (fewer than 2 pairs)
    test: str


def paired(a: dict[int, float], b: dict[int, float]) -> Paired:
    """Two-sided paired t-test of ``a - b`` over the seeds in both (seed -> value).

    Constant differences (zero spread, up to float rounding) have no t statistic: scipy returns
    nan or a meaningless value there. A constant non-zero difference is taken as p = 0 (every
    seed agrees exactly), an all-zero one as p = 1, and the test is named so.
    """
    seeds = sorted(set(a) & set(b))
    diffs = np.array([a[s] - b[s] for s in seeds], dtype=float)
    n = len(diffs)
    if n == 0:
        return Paired(0, None, None, None, None, "none (no shared seed)")
    mean = float(diffs.mean())
    if n == 1:
        return Paired(1, mean, None, None, None, "none (1 paired seed)")
    scale = max(1.0, max(abs(x) for x in (*a.values(), *b.values())))
    if float(np.ptp(diffs)) <= 1e-12 * scale:  # equal up to float rounding (0.59 - 0.58 vs 0.60 - 0.59)
        p = 1.0 if abs(mean) <= 1e-12 * scale else 0.0
        return Paired(n, mean, mean, mean, p, f"{TEST_NAME}, constant difference")
    result = stats.ttest_rel([a[s] for s in seeds], [b[s] for s in seeds])
    half = t_half_width(diffs)
    return Paired(n, mean, mean - half, mean + half, float(result.pvalue), TEST_NAME)


def t_half_width(values: np.ndarray) -> float:
    """Half the width of the 95 % t interval of the mean of ``values`` (at least 2 of them)."""
    n = len(values)
    return float(stats.t.ppf(0.975, n - 1)) * float(np.std(values, ddof=1)) / math.sqrt(n)


def holm(p_values: list[float | None], alpha: float = ALPHA) -> list[bool]:
    """Holm's step-down procedure: which hypotheses are rejected (None: never rejected).

    Sorted ascending, p_(i) is compared with alpha / (m - i) (i from 0); the first that
    fails stops the procedure and keeps it and every larger p.
    """
    tested = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m = len(tested)
    rejected = [False] * len(p_values)
    for rank, (p, index) in enumerate(tested):
        if p > alpha / (m - rank):
            break
        rejected[index] = True
    return rejected


def column_marks(values: dict[str, dict[int, float]], higher_is_better: bool = True,
                 alpha: float = ALPHA, decimals: int | None = None) -> dict[str, str]:
    """Mark each method of one column 'best', 'nsw' (not significantly worse) or ''.

    The best is the highest mean (lowest where lower is better); every method whose mean
    ties it (at ``decimals`` places when given, as shown) is 'best' too. Every other method
    is tested against the first best, paired by seed, with Holm's correction over the
    column's tests; those not rejected are 'nsw'. Where no test is possible (fewer than 2
    paired seeds) nothing but the best is marked. A column whose values are all equal (such
    as all zero) gets no mark.
    """
    means = {m: float(np.mean(list(v.values()))) for m, v in values.items() if v}
    marks = {m: "" for m in values}
    if not means:
        return marks
    every = [x for v in values.values() for x in v.values()]
    if min(every) == max(every):
        return marks
    sign = 1.0 if higher_is_better else -1.0

    def key(m: str) -> float:
        return sign * (round(means[m], decimals) if decimals is not None else means[m])

    top = max(key(m) for m in means)
    best = [m for m in means if key(m) == top]
    reference = max(best, key=lambda m: sign * means[m])
    others = [m for m in means if m not in best]
    tests = [paired(values[reference], values[m]) for m in others]
    rejected = holm([t.p_value for t in tests], alpha)
    for m in best:
        marks[m] = "best"
    for m, test, worse in zip(others, tests, rejected, strict=True):
        if test.p_value is not None and not worse:
            marks[m] = "nsw"
    return marks


def win_tie_loss(comparisons: list[Paired], higher_is_better: bool = True,
                 alpha: float = ALPHA) -> tuple[int, int, int]:
    """Count data sets where A is significantly better (win), worse (loss), or neither (tie).

    A data set where the two share no seed is not counted; one shared seed is a tie (no test).
    """
    win = tie = loss = 0
    for c in comparisons:
        if c.n == 0:
            continue
        if c.p_value is None or c.p_value >= alpha or not c.mean_diff:
            tie += 1
        elif (c.mean_diff > 0) == higher_is_better:
            win += 1
        else:
            loss += 1
    return win, tie, loss


def verdict(c: Paired, higher_is_better: bool = True, alpha: float = ALPHA) -> str:
    """METHOD.md 8: 'supported' (better, significant), 'contradicted' (worse, significant), else 'not supported'."""
    if c.p_value is None or c.p_value >= alpha or not c.mean_diff:
        return "not supported"
    return "supported" if (c.mean_diff > 0) == higher_is_better else "contradicted"


def rank_rows(scores: np.ndarray, higher_is_better: bool = True) -> np.ndarray:
    """Ranks within each row (data set) of an (N, k) matrix: 1 best, ties share the mean rank."""
    signed = -scores if higher_is_better else scores
    return np.apply_along_axis(stats.rankdata, 1, signed)


@dataclass(frozen=True)
class Friedman:
    """Friedman's test over N data sets and k methods, with Nemenyi's critical difference."""

    n_datasets: int
    n_methods: int
    average_ranks: np.ndarray
    chi2: float
    p_chi2: float
    f_stat: float  # Iman and Davenport's F_F
    p_f: float
    critical_difference: float
    alpha: float


def nemenyi_q(k: int, alpha: float = ALPHA) -> float:
    """q_alpha of the Nemenyi test for k methods (Demšar 2006, Table 5a: 2.569 for k = 4)."""
    return float(stats.studentized_range.ppf(1.0 - alpha, k, np.inf)) / math.sqrt(2.0)


def friedman(scores: np.ndarray, higher_is_better: bool = True, alpha: float = ALPHA) -> Friedman:
    """Demšar's Friedman test on an (N data sets, k methods) matrix of scores (see ``friedman_ranks``)."""
    return friedman_ranks(rank_rows(np.asarray(scores, dtype=float), higher_is_better), alpha)


def friedman_ranks(ranks: np.ndarray, alpha: float = ALPHA) -> Friedman:
    """Demšar's Friedman test on an (N data sets, k methods) matrix of within-data-set ranks.

    chi^2_F = 12N / (k(k+1)) * (sum_j R_j^2 - k(k+1)^2 / 4) from the average ranks R_j, and
    F_F = (N-1) chi^2_F / (N(k-1) - chi^2_F) with (k-1, (k-1)(N-1)) degrees of freedom; the
    critical difference is q_alpha sqrt(k(k+1) / (6N)). Without ties chi^2_F equals
    ``scipy.stats.friedmanchisquare``; with ties scipy divides by a tie correction, Demšar does not.
    """
    n, k = ranks.shape
    if n < 2 or k < 2:
        raise ValueError(f"Friedman's test needs at least 2 data sets and 2 methods, got {n} and {k}")
    average = ranks.mean(axis=0)
    chi2 = 12.0 * n / (k * (k + 1)) * (float(np.sum(average ** 2)) - k * (k + 1) ** 2 / 4.0)
    chi2 = max(chi2, 0.0)  # all ties: 0 up to rounding
    denominator = n * (k - 1) - chi2
    f_stat = (n - 1) * chi2 / denominator if denominator > 0 else math.inf
    p_f = float(stats.f.sf(f_stat, k - 1, (k - 1) * (n - 1))) if math.isfinite(f_stat) else 0.0
    cd = nemenyi_q(k, alpha) * math.sqrt(k * (k + 1) / (6.0 * n))
    return Friedman(n, k, average, chi2, float(stats.chi2.sf(chi2, k - 1)), f_stat, p_f, cd, alpha)
