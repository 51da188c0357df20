"""A claim across data set rows: one number per row, tested over the rows (Demšar 2006, JMLR 7).

"A outperforms B on these data sets" has the data set as its unit: the seeds of one row
measure that row's difference, the rows are the sample. Two tests of the per-row differences:

- Wilcoxon's signed-rank test, two-sided, with its exact null distribution
  (``scipy.stats.wilcoxon``; the normal approximation only where zero or tied differences rule
  the exact one out). With N rows its smallest two-sided p is 2 / 2^N, so it cannot reach
  α = 0.05 below 6 rows: such a claim "cannot be decided with N rows".
- The Bayesian signed-rank test of Benavoli, Corani, Demšar and Zaffalon (2017, "Time for a
  change", JMLR 18), with a region of practical equivalence (ROPE) in the metric's display
  units: a Dirichlet process with prior strength 0.5 on a pseudo-observation at 0, sampled as
  ``baycomp.SignedRankTest`` samples it (the same seeded ``RandomState``, so the same numbers),
  gives P(A better), P(equivalent), P(B better): the share of posterior samples in which each
  region holds the most mass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

SIGNED_RANK = "Wilcoxon signed-rank (two-sided, exact)"
SIGNED_RANK_APPROX = "Wilcoxon signed-rank (two-sided, normal approximation: zero or tied differences)"
BAYES_SAMPLES = 50_000
BAYES_PRIOR = 0.5
BAYES_SEED = 0


def rows_needed(alpha: float) -> int:
    """The fewest rows whose exact two-sided signed-rank test can reach p < ``alpha`` (6 at 0.05)."""
    return max(1, math.floor(math.log2(2.0 / alpha)) + 1)


@dataclass(frozen=True)
class Across:
    """The tests of one claim over ``n`` rows of per-row differences (A minus B, display units)."""

    n: int
    mean: float | None
    test: str
    statistic: float | None
    p_value: float | None  # None: too few rows for the test to reach alpha, or no row
    p_better: float | None
    p_rope: float | None
    p_worse: float | None
    verdict: str


def signed_rank(diffs: np.ndarray) -> tuple[str, float, float]:
    """(test name, statistic, two-sided p) of Wilcoxon's signed-rank test of ``diffs`` against 0."""
    nonzero = diffs[diffs != 0]
    exact = len(nonzero) == len(diffs) and len(np.unique(np.abs(nonzero))) == len(nonzero)
    if len(nonzero) == 0:
        return SIGNED_RANK, 0.0, 1.0
    result = stats.wilcoxon(diffs, alternative="two-sided", method="exact" if exact else "approx")
    return (SIGNED_RANK if exact else SIGNED_RANK_APPROX), float(result.statistic), float(result.pvalue)


def bayes_signed_rank(diffs: np.ndarray, rope: float, samples: int = BAYES_SAMPLES, prior: float = BAYES_PRIOR,
                      seed: int = BAYES_SEED) -> tuple[float, float, float]:
    """(P(A better), P(equivalent), P(B better)) for ``diffs`` = A - B per row, ``rope`` half-width.

    Each posterior sample draws Dirichlet weights w over the rows plus a pseudo-row at 0 (weight
    ``prior``); the mass above the ROPE is sum_ij w_i w_j H(d_i + d_j - 2 rope), below it
    sum_ij w_i w_j H(-(d_i + d_j) - 2 rope), with H(0) = 1/2 (Walsh averages, as in the signed-rank
    statistic). The probabilities are the shares of samples in which each region holds the most
    mass (ties to the first of B better, equivalent, A better, as ``numpy.argmax``). Without a
    ROPE (``rope`` 0) P(equivalent) is 0.
    """
    d = np.concatenate(([0.0], np.asarray(diffs, dtype=float)))
    sums = d[:, None] + d[None, :]
    weights = np.ones(len(d))
    weights[0] = prior
    draws = np.random.RandomState(seed).dirichlet(weights, samples)

    def mass(region: np.ndarray) -> np.ndarray:
        return np.einsum("si,ij,sj->s", draws, region, draws)

    def heaviside(a: np.ndarray, threshold: float) -> np.ndarray:
        return (a > threshold).astype(float) + 0.5 * (a == threshold).astype(float)

    above = mass(heaviside(sums, 2 * rope))
    below = 1.0 - above if rope == 0 else mass(heaviside(-sums, 2 * rope))
    inside = np.zeros(samples) if rope == 0 else 1.0 - above - below
    # baycomp's column order with x = B, y = A (it samples y - x): B better, equivalent, A better
    winners = np.argmax(np.stack([below, inside, above], axis=1), axis=1)
    p_worse, p_rope, p_better = (float(np.mean(winners == k)) for k in range(3))
    return p_better, p_rope, p_worse


def across_rows(diffs: list[float], rope: float, alpha: float, higher_is_better: bool = True,
                bayes_samples: int = BAYES_SAMPLES) -> Across:
    """Both tests of per-row differences; the verdict comes from the signed-rank test's exact p.

    'supported' when p < ``alpha`` and the differences favour A (more positive signed-rank mass
    where higher is better), 'contradicted' when they favour B, 'not supported' otherwise, and
    "cannot be decided with N rows" where no outcome of N rows could reach ``alpha``.
    ``bayes_samples`` 0 skips the Bayesian test (its probabilities are then None).
    """
    d = np.asarray(diffs, dtype=float)
    n = len(d)
    if n == 0:
        return Across(0, None, SIGNED_RANK, None, None, None, None, None, "cannot be decided with 0 rows")
    signed = d if higher_is_better else -d
    p_better = p_rope = p_worse = None
    if bayes_samples:
        p_better, p_rope, p_worse = bayes_signed_rank(signed, rope, bayes_samples)
    mean = float(d.mean())
    if n < rows_needed(alpha):
        return Across(n, mean, SIGNED_RANK, None, None, p_better, p_rope, p_worse,
                      f"cannot be decided with {n} row{'s' * (n != 1)}")
    test, statistic, p = signed_rank(d)
    verdict = "not supported"
    if p < alpha:
        up = float(np.sum(stats.rankdata(np.abs(signed[signed != 0]))[signed[signed != 0] > 0]))
        down = float(np.sum(stats.rankdata(np.abs(signed[signed != 0]))[signed[signed != 0] < 0]))
        verdict = "supported" if up > down else "contradicted" if down > up else "not supported"
    return Across(n, mean, test, statistic, p, p_better, p_rope, p_worse, verdict)
