"""A suite's seeds: evaluation seeds (a list, or the number a power rule gives) and tuning seeds.

Evaluation seeds are fixed before anything runs. ``seeds: [0, 1, 2]`` lists them;
``seeds: {effect_sd: 1.5, alpha: 0.05, power: 0.8}`` asks for the fewest seeds whose paired
comparison detects an effect of ``effect_sd`` paired standard deviations (two-sided t-test at
``alpha``, with probability ``power``; ``lpg_meta.report.power``), and runs seeds 0 .. n-1.

Tuning seeds train the tuning trials and nothing else: a seed drives the data split (meta,
validation, long-tail subsample), the label-noise draw, the batch order and the initialisation,
so a tuning seed that no evaluation seed uses gives every trial data and weights that no
reported run shares (a row that fixes ``data.seed`` pins one split for every seed, tuning seeds
included: its runs then differ in order and initialisation only). The default is one seed,
``DEFAULT_TUNING_SEED`` (or the first integer above it that no evaluation seed uses); a seed
listed in both is an error.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

from lpg_meta.errors import UserError, closest

DEFAULT_TUNING_SEED = 1000
RULE_KEYS = ("effect_sd", "alpha", "power")
RULE_DEFAULTS = {"alpha": 0.05, "power": 0.8}


@dataclass(frozen=True)
class SeedRule:
    """The power rule that fixed a suite's number of seeds: ``n`` detects ``effect_sd`` sd."""

    effect_sd: float
    alpha: float
    power: float
    n: int

    @property
    def mde(self) -> float:
        """The minimum detectable effect at ``n`` seeds, in paired standard deviations."""
        return mde(self.n, self.alpha, self.power)


def mde(n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """The paired MDE (in sd) of ``n`` seeds; infinite below 2 seeds (no test)."""
    from lpg_meta.report.power import minimum_detectable_effect

    value = minimum_detectable_effect(n, 1.0, alpha, power)
    return float("inf") if value is None else value


def seed_list(value: Any, where: str) -> list[int]:
    if not isinstance(value, list) or not value:
        raise UserError(f"{where} must be a non-empty list of integers, e.g. [0, 1, 2]; got {value!r}.")
    for i, seed in enumerate(value):
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise UserError(f"{where}[{i}] must be an integer >= 0, got {seed!r}.")
    if len(set(value)) != len(value):
        raise UserError(f"{where}: {value} repeats a seed; list each once.")
    return list(value)


def _probability(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise UserError(f"{where} must be a number in (0, 1), got {value!r}.")
    return float(value)


def parse_seeds(value: Any, where: str = "seeds") -> tuple[list[int], SeedRule | None]:
    """``seeds``: a list, or ``{effect_sd, alpha, power}`` -> seeds 0 .. n-1 and the rule."""
    if not isinstance(value, dict):
        return seed_list(value, where), None
    for key in value:
        if key not in RULE_KEYS:
            raise UserError(f"{where}.{key}: unknown key; a power rule is {{effect_sd: 1.5, alpha: 0.05, "
                            "power: 0.8}} (or list the seeds).")
    effect = value.get("effect_sd")
    if isinstance(effect, bool) or not isinstance(effect, int | float) or not effect > 0:
        raise UserError(f"{where}.effect_sd must be a positive number (the paired effect to detect, in "
                        f"paired standard deviations), got {effect!r}.")
    alpha = _probability(value.get("alpha", RULE_DEFAULTS["alpha"]), f"{where}.alpha")
    power = _probability(value.get("power", RULE_DEFAULTS["power"]), f"{where}.power")
    from lpg_meta.report.power import seeds_for_effect

    try:
        n = seeds_for_effect(float(effect), alpha, power)
    except ValueError as err:
        raise UserError(f"{where}: {err}; ask for a larger effect_sd.") from None
    return list(range(n)), SeedRule(effect_sd=float(effect), alpha=alpha, power=power, n=n)


def parse_tuning_seeds(value: Any, used: set[int], where: str = "tuning.seeds") -> tuple[int, ...]:
    """The tuning seeds: as given (none of them in ``used``, the evaluation seeds), else the default."""
    if value is None:
        seed = DEFAULT_TUNING_SEED
        while seed in used:
            seed += 1
        return (seed,)
    seeds = seed_list(value, where)
    if clash := sorted(set(seeds) & used):
        raise UserError(f"{where}: seed(s) {clash} also evaluate (seeds or extra_seeds); a tuning seed must "
                        f"be one no reported run uses, e.g. {where}: [{DEFAULT_TUNING_SEED}].")
    return tuple(seeds)


def parse_extra_seeds(value: Any, cells: list[str], seeds: list[int]) -> dict[str, list[int]]:
    """``extra_seeds: {'dataset/method' glob: [seeds]}``: more seeds for the ``cells`` it matches.

    Declared before running, like ``seeds``: a sample size chosen after seeing results is not one a
    test can trust. The extra seeds run with the cell's tuned parameters, which come from the
    tuning seeds, so every seed of a cell is trained the same way. A cell matched by several
    patterns gets all their seeds.
    """
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UserError(f"extra_seeds must be a mapping, got {type(value).__name__} {value!r}; "
                        "e.g. {'*_pair/lpg': [3, 4, 5]}.")
    out: dict[str, list[int]] = {}
    for pattern, extra in value.items():
        where = f"extra_seeds[{pattern!r}]"
        if not isinstance(pattern, str) or pattern.count("/") != 1:
            raise UserError(f"{where}: write the key as 'dataset/method' (globs allowed), e.g. '*_pair/lpg'.")
        hit = [n for n in cells if fnmatch.fnmatchcase(n, pattern)]
        if not hit:
            raise UserError(f"{where}: matches no cell of the matrix.{closest(pattern, cells)}")
        extra = seed_list(extra, where)
        if clash := sorted(set(extra) & set(seeds)):
            raise UserError(f"{where}: seed(s) {clash} already in seeds {seeds}; list only the extra ones.")
        for name in hit:
            out[name] = list(dict.fromkeys(out.get(name, []) + extra))
    return out
