"""Power of a paired comparison over seeds: the minimum detectable effect and the seeds it takes.

For a two-sided paired t-test at level ``alpha`` on ``n`` per-seed differences with standard
deviation ``sd``, the effect detected with probability ``power`` is about

    MDE(n) = (t_{1 - alpha/2, n-1} + t_{power, n-1}) * sd / sqrt(n)

(the usual normal-theory approximation with t quantiles; Bouthillier et al. 2021 use it to size
benchmarks). Three seeds detect only about 3.5 sd at alpha 0.05, ten seeds about 1 sd. A suite
fixes its number of seeds from this rule before anything runs; the report prints the MDE beside
every comparison so a reader sees what "not supported" could have missed.
"""

from __future__ import annotations

import math

from scipy import stats

POWER = 0.8


def minimum_detectable_effect(n: int, sd: float = 1.0, alpha: float = 0.05, power: float = POWER) -> float | None:
    """The paired effect a two-sided t-test on ``n`` differences of spread ``sd`` detects with ``power``.

    ``None`` below 2 pairs (no test). ``sd`` in the metric's units gives the MDE in those units;
    the default 1 gives it in units of the paired standard deviation.
    """
    if n < 2:
        return None
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError(f"alpha and power must lie in (0, 1), got {alpha} and {power}")
    df = n - 1
    return float((stats.t.ppf(1 - alpha / 2, df) + stats.t.ppf(power, df)) * sd / math.sqrt(n))


def seeds_for_effect(effect_sd: float, alpha: float = 0.05, power: float = POWER, max_seeds: int = 1000) -> int:
    """The fewest seeds whose MDE (in paired-sd units) is at most ``effect_sd``."""
    if effect_sd <= 0:
        raise ValueError(f"the effect must be positive (in paired standard deviations), got {effect_sd}")
    for n in range(2, max_seeds + 1):
        mde = minimum_detectable_effect(n, 1.0, alpha, power)
        if mde is not None and mde <= effect_sd:
            return n
    raise ValueError(f"an effect of {effect_sd} sd needs more than {max_seeds} seeds at alpha {alpha}")
