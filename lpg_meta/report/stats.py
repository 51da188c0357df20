"""Statistics for tables and claims (Demšar 2006, JMLR 7).

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

import functools
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
    sd: float | None = None  # sample sd (n - 1) of the per-seed differences (None below 2 pairs)
    seeds: tuple[int, ...] = ()  # the paired seeds


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
        return Paired(1, mean, None, None, None, "none (1 paired seed)", seeds=tuple(seeds))
    sd = float(np.std(diffs, ddof=1))
    scale = max(1.0, max(abs(x) for x in (*a.values(), *b.values())))
    if float(np.ptp(diffs)) <= 1e-12 * scale:  # equal up to float rounding (0.59 - 0.58 vs 0.60 - 0.59)
        p = 1.0 if abs(mean) <= 1e-12 * scale else 0.0
        return Paired(n, mean, mean, mean, p, f"{TEST_NAME}, constant difference", 0.0, tuple(seeds))
    result = stats.ttest_rel([a[s] for s in seeds], [b[s] for s in seeds])
    half = t_half_width(diffs)
    return Paired(n, mean, mean - half, mean + half, float(result.pvalue), TEST_NAME, sd, tuple(seeds))


@functools.lru_cache(maxsize=256)
def _t975(df: int) -> float:
    return float(stats.t.ppf(0.975, df))  # cached: simulations ask for the same few df thousands of times


def t_half_width(values: np.ndarray) -> float:
    """Half the width of the 95 % t interval of the mean of ``values`` (at least 2 of them)."""
    n = len(values)
    return _t975(n - 1) * float(np.std(values, ddof=1)) / math.sqrt(n)


def holm_adjust(p_values: list[float | None]) -> list[float | None]:
    """Holm's adjusted p-values (None stays None): a hypothesis is rejected at α when its adjusted p < α.

    Sorted ascending, the i-th (from 0) of m gets max over j <= i of min(1, (m - j) p_(j)); equal
    p-values get equal adjusted ones. Rejecting where it is below α is Holm's step-down procedure,
    which holds the family-wise error rate at α under any dependence between the tests.
    """
    tested = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, index) in enumerate(tested):
        running = max(running, min(1.0, (len(tested) - rank) * p))
        adjusted[index] = running
    return adjusted


def holm(p_values: list[float | None], alpha: float = ALPHA) -> list[bool]:
    """Which hypotheses Holm's procedure rejects at ``alpha`` (None: never rejected)."""
    return [q is not None and q < alpha for q in holm_adjust(p_values)]


def format_p(p: float | None, alpha: float = ALPHA) -> str:
    """A p-value whose side of ``alpha`` the text never hides: four significant digits.

    0.0497 prints 0.04970, never 0.050; below 0.0001 scientific (3.2e-05). Where four digits
    would still round onto ``alpha`` itself (0.049996), it prints "< 0.05" or "> 0.05".
    """
    if p is None:
        return "–"
    text = f"{p:.1e}" if p < 1e-4 else f"{p:#.4g}"
    if float(text) == alpha and p != alpha:
        return f"{'<' if p < alpha else '>'} {alpha:g}"
    return text


def column_marks(values: dict[str, dict[int, float]], reference: str | None, higher_is_better: bool = True,
                 alpha: float = ALPHA, same: dict[str, str] | None = None) -> dict[str, str]:
    """Mark each method of one column 'better' or 'worse' than ``reference``, or ''.

    A mark is a finding with its error controlled: every other method is tested against the
    reference (chosen before the results, so no winner is picked from the data), paired by seed
    with a two-sided t-test on unrounded values, and Holm's correction runs over the column's
    tests, so under the null (every method equal to the reference) the column carries a wrong
    mark with probability at most ``alpha``. Methods whose runs are bit-identical to another's
    (``same``: method -> the one it repeats) are one hypothesis, tested once, with that one's
    mark; equal values therefore get equal marks. The reference is never marked, nor a method
    without a test (fewer than 2 paired seeds).
    """
    same = same or {}
    marks = {m: "" for m in values}
    if reference is None or not values.get(reference):
        return marks
    tested = [m for m in values if m != reference and m not in same and values[m]]
    tests = [paired(values[m], values[reference]) for m in tested]
    for m, test, q in zip(tested, tests, holm_adjust([t.p_value for t in tests]), strict=True):
        if q is not None and q < alpha and test.mean_diff:
            marks[m] = "better" if (test.mean_diff > 0) == higher_is_better else "worse"
    for m, first in same.items():
        if m in marks:
            marks[m] = marks.get(first, "")
    return marks


def win_tie_loss(comparisons: list[Paired], higher_is_better: bool = True,
                 alpha: float = ALPHA) -> tuple[int, int, int]:
    """Count data sets where A is significantly better (win), worse (loss), or neither (tie).

    Holm's correction runs over the data sets of the tally, so a row's W and L together are
    wrong with probability at most ``alpha`` when A equals B everywhere. A data set where the two
    share no seed is not counted; one shared seed is a tie (no test).
    """
    counted = [c for c in comparisons if c.n]
    win = tie = loss = 0
    for c, q in zip(counted, holm_adjust([c.p_value for c in counted]), strict=True):
        if q is None or q >= alpha or not c.mean_diff:
            tie += 1
        elif (c.mean_diff > 0) == higher_is_better:
            win += 1
        else:
            loss += 1
    return win, tie, loss


def verdict(c: Paired, higher_is_better: bool = True, alpha: float = ALPHA, p: float | None = None) -> str:
    """'supported' (better, significant), 'contradicted' (worse, significant), else 'not supported'.

    ``p`` overrides the comparison's own p-value (a Holm-adjusted one, say).
    """
    p = c.p_value if p is None else p
    if p is None or p >= alpha or not c.mean_diff:
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
