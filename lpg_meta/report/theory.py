"""The LPG paper's theory, measured (``lpg-meta theory``): the PAC-Bayes bound and the amplify/dampen conjecture.

A pure function of the tidy extract (``runs.csv``, ``curves.csv.gz``, ``runs.json``), like the tables.

1. **Bound against test error**, per data set row: Kendall's τ_b (``scipy.stats.kendalltau``)
   between the methods' seed means of the bound and of the 0-1 test error (the runs of one seed
   share data and initialisation, so runs are not independent units; methods are), and the same
   for the KL term. Where every bound is vacuous (``VACUOUS_AT`` or more) the bound's τ is not
   computed: its last digits order nothing. Each τ's p is Holm-adjusted over the rows (the bound's
   and the KL term's apart), and the report's reading of a row rests on the adjusted p.
2. **Correlations of the conjecture**, per data set row and LPG row: Spearman's r_s between a
   class's typical amplification and its training count (long-tail rows; the conjecture predicts
   r_s < 0: tail classes amplified) or its realised noise rate (noisy rows; r_s < 0: noisy
   classes dampened). A run records, per epoch and class, the mean of ``||g~|| / ||g||`` over the
   class's samples; that mean is dominated by samples whose ``||g||`` is near 0 (a `shift`
   perturbation adds a constant norm, so its ratio grows as 1/||g||: 1e11 on a fitted class).
   The typical amplification is therefore the median over epochs of the log of the epoch's value
   (reported as its exponential): the epochs where fitted samples blow the ratio up move it only
   if they are more than half of training, and on the log scale x2 and /2 are equally far from
   1. (A per-sample median or a ratio of sums would be more robust still; the runs do not record
   them.) The last epoch's value is a second reading. r_s pools the (class, seed) pairs; its
   p-value is a permutation test that reassigns the classes' counts (or rates) among the classes,
   the same way in every seed, so a class's seeds stay together and are not taken as independent
   samples: exact up to 8 classes, else 20,000 seeded draws, p = (1 + #{|r*| >= |r|}) / (1 + draws).
3. **The intervention** (``lpg_fixed`` rows: hand-set perturbations, no meta-learning): few-shot
   accuracy (long-tail rows) or the peak-to-last gap of test accuracy (noisy rows) against ``ce``
   and ``lpg``, paired by seed (``stats.paired``). Predicted: amplifying the tail raises few-shot
   accuracy and dampening it lowers it; dampening the noisy classes narrows the gap and
   amplifying them widens it.

A verdict per half of the conjecture counts the significant (α = 0.05) results for and against.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from lpg_meta.catalog.methods import PROPOSED, REFERENCE
from lpg_meta.report.layout import intervention
from lpg_meta.report.stats import ALPHA, Paired, format_p, holm_adjust, paired
from lpg_meta.report.tidy import AMPLIFICATION, LABEL_NOISE_RATE, PAC_BAYES, Results, last_epoch, recorded_series
from lpg_meta.report.tidy import NOISE_RATES as NOISE_RATE  # per true class, every noisy run

EXACT_MAX_CLASSES = 8  # 8! = 40,320 permutations; beyond, Monte-Carlo draws
DRAWS = 20_000
TRAIN_COUNT = "train_count"
# What a class's amplification is read against, per protocol. Noise: the rate per true class
# (``noise.per_class_rate``) and the rate per training label, the class a perturbation is indexed by
# (a source class of asym noise keeps only its unflipped samples under its own label).
COVARIATES = {"long-tail": (TRAIN_COUNT,), "noisy": (NOISE_RATE, LABEL_NOISE_RATE)}


@dataclass(frozen=True)
class Correlation:
    """Spearman's r_s (``rho``) over pooled (class, seed) pairs with its class-permutation p-value."""

    rho: float | None
    p_value: float | None
    classes: int
    seeds: int


def _ranks_centred(values: np.ndarray) -> np.ndarray:
    ranks = stats.rankdata(values.ravel()).reshape(values.shape)  # ties: average ranks
    return ranks - ranks.mean()


def spearman_by_class(x: np.ndarray, y: np.ndarray, seed: int = 0) -> Correlation:
    """ρ of ``x`` and ``y`` (``[classes, seeds]``) over all pairs, and its two-sided permutation p-value.

    The null reassigns the rows (classes) of ``x`` among the classes, the same permutation in
    every seed. None where either side is constant.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    classes, seeds = x.shape
    rx, ry = _ranks_centred(x), _ranks_centred(y)
    denom = math.sqrt(float((rx**2).sum()) * float((ry**2).sum()))
    if classes < 2 or denom == 0:
        return Correlation(None, None, classes, seeds)
    rho = float((rx * ry).sum()) / denom
    if math.factorial(classes) <= math.factorial(EXACT_MAX_CLASSES):
        perms = np.array(list(itertools.permutations(range(classes))))
        extra = 0
    else:
        rng = np.random.default_rng(seed)
        perms = np.array([rng.permutation(classes) for _ in range(DRAWS)])
        extra = 1  # the observed assignment counts as one draw
    null = np.einsum("pcs,cs->p", rx[perms], ry) / denom
    hits = int(np.sum(np.abs(null) >= abs(rho) - 1e-12))
    return Correlation(rho, (hits + extra) / (len(perms) + extra), classes, seeds)


def _per_class(results: Results, ds: str, m: str, seed: int, series: str) -> dict[int, float]:
    return {c: v for _, c, v in results.curves.get((ds, m, seed, series), []) if c is not None}


def amplification(results: Results, ds: str, m: str, seed: int, last: bool = False) -> dict[int, float]:
    """class -> amplification of one run: the typical one (exp of the median over epochs of the log;
    see the module docstring), or the last epoch's."""
    points = [(e, c, v) for e, c, v in results.curves.get((ds, m, seed, AMPLIFICATION), []) if c is not None]
    if last:
        return last_epoch(points)
    by_class: dict[int, list[float]] = {}
    for _, c, v in points:
        if v > 0:  # a class whose every gradient was removed (ratio 0) has no log; it is left out of the median
            by_class.setdefault(c, []).append(math.log(v))
    return {c: float(math.exp(np.median(v))) for c, v in by_class.items()}


def is_fixed(results: Results, m: str) -> bool:
    """Whether row ``m`` runs a hand-set intervention (``lpg_fixed`` or ``lpg_fixed+X``), as declared."""
    return intervention(results.layout.method_of(m))


def perturbation_curves(results: Results, m: str) -> set[str]:
    """The curves of row ``m``'s declared per-class series at the quantity its figures are labelled by
    (``lpg_a_c``: the hand-set perturbation of an intervention row)."""
    return {s.curve(s.figure_quantity.name) for s in recorded_series(results.layout.method_of(m)) if s.per_class}


@dataclass(frozen=True)
class ClassData:
    """One LPG row's classes on one data set row: x (count or noise rate) and amplification, [class, seed]."""

    dataset: str
    method: str
    covariate: str  # TRAIN_COUNT, NOISE_RATE or LABEL_NOISE_RATE
    x: np.ndarray
    typical_amp: np.ndarray  # exp(median over epochs of log amplification)
    last_amp: np.ndarray


def class_data(results: Results, ds: str, m: str, covariate: str) -> ClassData | None:
    """The matrices of a (data set row, LPG row) against ``covariate``, or None where either is missing."""
    seeds = sorted(s for (d, mm, s, series) in results.curves if (d, mm, series) == (ds, m, AMPLIFICATION))
    columns = []
    for seed in seeds:
        x = _per_class(results, ds, m, seed, covariate)
        mean, last = amplification(results, ds, m, seed), amplification(results, ds, m, seed, last=True)
        columns.append((x, mean, last))
    classes = sorted(set.intersection(*(set(x) & set(a) & set(b) for x, a, b in columns))) if columns else []
    if not classes:
        return None
    mats = [np.array([[col[i][c] for col in columns] for c in classes]) for i in range(3)]
    return ClassData(ds, m, covariate, *mats)


def nominal_rates_differ(results: Results, ds: str) -> bool:
    """Whether the row's noise kind gives classes different nominal flip rates (asym), so that
    a correlation with the realised rates tests the conjecture; sym and pair rows share one rate."""
    data = (results.layout.datasets.get(ds, {}).get("config") or {}).get("data") or {}
    return str(data.get("noise")) == "asym"


# At or above the error of guessing among 100 classes (CIFAR-100, the most any source here has), a
# bound on the 0-1 error says nothing about a run, even where its last digits still differ.
VACUOUS_AT = 0.99


@dataclass(frozen=True)
class BoundRow:
    """Bound against test error on one data set row, at the level of methods (seed means)."""

    dataset: str
    runs: list[tuple[str, int, float, float]]  # (method row, seed, bound, test error)
    tau_methods: float | None  # None where the bound is vacuous on every run, or nothing varies
    p_methods: float | None
    n_methods: int
    # The KL term against the test error: a ranking that remains where a vacuous bound (1) has none.
    tau_kl: float | None = None
    p_kl: float | None = None
    p_methods_adjusted: float | None = None  # Holm over the rows with a bound τ
    p_kl_adjusted: float | None = None  # Holm over the rows with a KL τ

    @property
    def vacuous(self) -> bool:
        return min(r[2] for r in self.runs) >= VACUOUS_AT


def kendall(a: list[float], b: list[float]) -> tuple[float | None, float | None]:
    """Kendall's τ_b of ``a`` against ``b`` and its p; (None, None) where fewer than two values or either is
    constant (no ranking to compare)."""
    if len(a) < 2 or len(set(a)) < 2 or len(set(b)) < 2:
        return None, None
    result = stats.kendalltau(a, b)
    return float(result.statistic), float(result.pvalue)


def bound_rows(results: Results) -> list[BoundRow]:
    """Every data set row with at least one run that has a bound."""
    out = []
    for ds in results.layout.datasets:
        runs = []
        for m in results.layout.methods:
            bound, error = results.get(ds, m, "bound", PAC_BAYES), results.get(ds, m, "test_error", PAC_BAYES)
            runs += [(m, s, bound[s], error[s]) for s in sorted(set(bound) & set(error))]
        if not runs:
            continue
        methods = list(dict.fromkeys(r[0] for r in runs))
        bound_m = [float(np.mean([r[2] for r in runs if r[0] == m])) for m in methods]
        error_m = [float(np.mean([r[3] for r in runs if r[0] == m])) for m in methods]
        vacuous = min(r[2] for r in runs) >= VACUOUS_AT
        tau_m, p_m = (None, None) if vacuous else kendall(bound_m, error_m)
        kl = {m: list(results.get(ds, m, "kl", PAC_BAYES).values()) for m in methods}
        with_kl = [i for i, m in enumerate(methods) if kl[m]]
        tau_kl, p_kl = kendall([float(np.mean(kl[methods[i]])) for i in with_kl], [error_m[i] for i in with_kl])
        out.append(BoundRow(ds, runs, tau_m, p_m, len(methods), tau_kl, p_kl))
    bound_q = holm_adjust([r.p_methods for r in out])
    kl_q = holm_adjust([r.p_kl for r in out])
    return [dataclasses.replace(r, p_methods_adjusted=q, p_kl_adjusted=k)
            for r, q, k in zip(out, bound_q, kl_q, strict=True)]


def _tau_stats(p: float | None, p_adjusted: float | None) -> str:
    return f"p {format_p(p)}, Holm over the rows {format_p(p_adjusted)}"


def ranking_sentence(row: BoundRow, alpha: float = ALPHA) -> str:
    """Whether the bound ranks the methods as the test error does, in plain words, read from the Holm-adjusted p."""
    bounds = {round(r[2], 12) for r in row.runs}
    kl = ("" if row.tau_kl is None else
          f"; its KL term ranks the methods with τ = {row.tau_kl:+.2f} ({_tau_stats(row.p_kl, row.p_kl_adjusted)})")
    if min(bounds) >= VACUOUS_AT:
        low, high = min(bounds), max(bounds)
        where = f"{low:.4f}" if f"{low:.4f}" == f"{high:.4f}" else f"{low:.4f} to {high:.4f}"
        return f"no: the bound is {where} on every run (vacuous){kl}"
    if len(bounds) == 1:
        (value,) = bounds
        return f"no: the bound is {value:.3f} on every run{kl}"
    if row.n_methods < 2 or row.tau_methods is None:
        return "fewer than two methods with distinct values: no ranking to compare"
    order = (f"it orders the {row.n_methods} methods' mean test errors exactly, τ = +1.00"
             if row.tau_methods >= 1 - 1e-12 else f"τ = {row.tau_methods:+.2f} over the {row.n_methods} methods' means")
    measured = f"{order} ({_tau_stats(row.p_methods, row.p_methods_adjusted)})"
    adjusted = row.p_methods_adjusted
    if adjusted is None or adjusted >= alpha:
        return f"cannot be decided: {measured}, not significant at α = {alpha:g}{kl}"
    if row.tau_methods > 0:
        return f"yes: {measured}{kl}"
    return f"no, the reverse: {measured}{kl}"


@dataclass(frozen=True)
class Intervention:
    """An ``lpg_fixed`` row on one data set row against the rows of the reference baseline (``ce``) and of
    the paper's method (``lpg``)."""

    dataset: str
    method: str
    action: str  # "amplify" or "dampen"
    target: str  # "tail" or "noisy"
    classes: list[int]
    metric: str  # "few_shot" or "gap"
    values: dict[int, float]
    against: dict[str, Paired]  # reference row -> paired comparison of the metric
    verdict: str  # against ce: "supports", "contradicts", "no effect shown"


def _metric_values(results: Results, ds: str, m: str, metric: str) -> dict[int, float]:
    if metric == "few_shot":
        return results.get(ds, m, "few_shot")
    peak, last = results.get(ds, m, "peak_accuracy"), results.get(ds, m, "accuracy")
    return {s: peak[s] - last[s] for s in set(peak) & set(last)}


def _classify(diff: Paired, predicted_sign: int) -> str:
    if diff.p_value is None or diff.mean_diff is None or diff.p_value >= ALPHA or diff.mean_diff == 0:
        return "no effect shown"
    return "supports" if math.copysign(1, diff.mean_diff) == predicted_sign else "contradicts"


def interventions(results: Results) -> list[Intervention]:
    out = []
    for ds in results.layout.datasets:
        kind = results.layout.protocol(ds)
        if kind not in ("long-tail", "noisy"):
            continue
        for m in (m for m in results.layout.methods if is_fixed(results, m) and (ds, m) in results.present()):
            a, curves = {}, perturbation_curves(results, m)
            for (d, mm, _, series), points in results.curves.items():
                if (d, mm) == (ds, m) and series in curves:
                    final = max((e or 0) for e, _, _ in points)
                    a.update({c: v for e, c, v in points if (e or 0) == final and c is not None and v != 0})
            if not a:
                continue
            action = "amplify" if np.mean(list(a.values())) > 0 else "dampen"
            target, metric = ("tail", "few_shot") if kind == "long-tail" else ("noisy", "gap")
            values = _metric_values(results, ds, m, metric)
            reference, proposed = (results.layout.row_of(method) for method in (REFERENCE, PROPOSED))
            against = {ref: paired(values, _metric_values(results, ds, ref, metric))
                       for ref in (reference, proposed) if ref is not None and (ds, ref) in results.present()}
            # few-shot: amplify up, dampen down; gap: amplify wider, dampen narrower
            sign = (1 if action == "amplify" else -1)
            verdict = _classify(against[reference], sign) if reference in against else f"no {REFERENCE} row"
            out.append(Intervention(ds, m, action, target, sorted(a), metric, values, against, verdict))
    return out


def correlation_verdict(c: Correlation) -> str:
    """r_s < 0 is what the conjecture predicts, for counts and for noise rates alike."""
    if c.rho is None or c.p_value is None or c.p_value >= ALPHA:
        return "no effect shown"
    return "supports" if c.rho < 0 else "contradicts"


def overall(verdicts: list[str]) -> str:
    """supported / contradicted / mixed / not shown, from the significant results."""
    pro, con = verdicts.count("supports"), verdicts.count("contradicts")
    if pro and con:
        return "mixed"
    return "supported" if pro else ("contradicted" if con else "not shown (no significant result)")
