"""The suite's claims, tested on its per-seed results (``lpg-meta claims``).

A claim (``report.claim_specs``; by default the LPG paper's two: LPG "outperforms the
baselines", and ``lpg+X`` "improves X") is tested at two levels.

**Per comparison** ("A outperforms B on data set D"): A against B paired by seed, on the seeds
both have (``stats.paired``: two-sided paired t-test, 95 % t interval of the mean difference).
The comparisons of one protocol (balanced, long-tail, noisy) and one claim form a *family*;
Holm's procedure adjusts their p-values, so the family carries any wrong verdict with
probability at most α. A comparison is *supported* when the difference favours A and its
adjusted p is below α, *contradicted* when it favours B and is, else *not supported*. A baseline
whose runs repeat an earlier one's bit for bit (``report.identical``) is listed with that one's
test and verdict but counted once.

**Per protocol** (the claim over the protocol's data set rows, and over all rows): the data set
is the unit, so each row contributes one number, the mean of its comparisons' paired
differences, and the rows are tested with Wilcoxon's signed-rank test (exact p) and described
by the Bayesian signed-rank test with the claim's ROPE (``report.across``). The verdict comes
from the signed-rank test; with fewer rows than it needs to reach α (6 at α = 0.05) the claim
"cannot be decided" and the report says how many rows it would take.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np

from lpg_meta.report.across import BAYES_SAMPLES, Across, across_rows
from lpg_meta.report.claim_specs import ClaimSpec, claim_specs
from lpg_meta.report.identical import identical_cells
from lpg_meta.report.layout import METRIC_INFO, PROTOCOLS, method_family
from lpg_meta.report.power import minimum_detectable_effect
from lpg_meta.report.stats import Friedman, Paired, friedman, holm_adjust, paired, verdict
from lpg_meta.report.tidy import Results

VERDICTS = ("supported", "not supported", "contradicted")
ALL_ROWS = "all"  # the protocol name of a claim tested over every one of its rows


@dataclass(frozen=True)
class Claim:
    """``method`` against ``baseline`` on one data set row; differences in the metric's raw units."""

    dataset: str
    method: str
    baseline: str
    kind: str  # 'baselines' (a method against baselines) or 'plug-in' (lpg+X against X)
    metric: str
    result: Paired
    verdict: str  # from the Holm-adjusted p
    claim: str = ""  # the claim's name (its family is this and the data set's protocol)
    protocol: str = ""
    p_adjusted: float | None = None
    mde: float | None = None  # 80 % power at the family's first Holm step (alpha / m), raw units
    same_as: str | None = None  # the earlier baseline whose runs this baseline's repeat
    cell_n: tuple[int, int] = (0, 0)  # seeds with a value in the method's and the baseline's cells
    alpha: float = 0.05


@dataclass(frozen=True)
class Summary:
    """One claim over one protocol's data set rows (or over all of them, protocol ``all``)."""

    protocol: str
    spec: ClaimSpec
    datasets: list[str]
    row_diffs: list[float]  # per row, in display units (points)
    comparisons: list[Claim]  # the family's comparisons, repeats included
    across: Across

    @property
    def counted(self) -> list[Claim]:
        return [c for c in self.comparisons if c.same_as is None]

    def by_pair(self, bayes_samples: int = BAYES_SAMPLES) -> list[tuple[str, str, Across, float | None]]:
        """(method, baseline, test over the rows they share, Holm-adjusted p over the pairs) per pair.

        What the protocol's test says about one baseline (LPG against CE over the rows, say);
        the pairs are one family, so the verdicts come from their Holm-adjusted p.
        """
        pairs: dict[tuple[str, str], list[float]] = {}
        for c in self.counted:
            if c.result.mean_diff is not None:
                pairs.setdefault((c.method, c.baseline), []).append(display_factor(c.metric) * c.result.mean_diff)
        higher = METRIC_INFO[self.spec.metric].higher_is_better
        tests = {k: across_rows(d, self.spec.rope, self.spec.alpha, higher, bayes_samples) for k, d in pairs.items()}
        adjusted = holm_adjust([t.p_value for t in tests.values()])
        out = []
        for ((m, b), t), q in zip(tests.items(), adjusted, strict=True):
            if q is not None and t.verdict in ("supported", "contradicted") and q >= self.spec.alpha:
                t = dataclasses.replace(t, verdict="not supported")
            out.append((m, b, t, q))
        return out


def display_factor(metric: str) -> float:
    """Raw units to the report's: percentage points, NLL as is."""
    return 1.0 if metric == "nll" else 100.0


def _method_rows(results: Results, spec: ClaimSpec) -> list[str]:
    methods = results.layout.methods
    if spec.method in methods:
        return [spec.method]
    return [m for m in methods if results.layout.method_of(m) == spec.method]


def comparisons(results: Results, spec: ClaimSpec | None = None) -> list[tuple[str, str, str, str]]:
    """(dataset, method, baseline, kind) for every comparison of the claim, in suite order."""
    spec = spec or claim_specs(None)[0]
    layout = results.layout
    present = results.present()
    method_of = {m: layout.method_of(m) for m in layout.methods}
    out = []
    for ds in spec.datasets or layout.datasets:
        rows = [m for m in layout.methods if (ds, m) in present]
        if spec.plug_in:
            out += [(ds, m, base, "plug-in") for m in rows
                    if (base := layout.base_of(m)) is not None and (ds, base) in present]
            continue
        # by default every row of another method family than the claimed one's is a baseline
        claimed = method_family(method_of.get(spec.method, spec.method))
        baselines = [b for b in rows if (b in spec.baselines if spec.baselines is not None
                                          else method_family(method_of[b]) != claimed)]
        for a in (m for m in _method_rows(results, spec) if m in rows):
            out += [(ds, a, b, "baselines") for b in baselines if b != a]
    return out


@functools.lru_cache(maxsize=1024)
def _mde_per_sd(n: int, alpha: float) -> float | None:
    """The MDE in paired-sd units (it scales with the sd), cached for simulations."""
    return minimum_detectable_effect(n, 1.0, alpha)


def _family(results: Results, spec: ClaimSpec, found: list[tuple[str, str, str, str]], protocol: str,
            split: str) -> list[Claim]:
    """The Holm-adjusted comparisons of one family, repeats of an identical baseline counted once."""
    higher = METRIC_INFO[spec.metric].higher_is_better
    same = {ds: identical_cells(results, ds) for ds in dict.fromkeys(ds for ds, *_ in found)}
    keys = {(ds, a, b) for ds, a, b, _ in found}
    tests, repeats = {}, {}
    for ds, a, b, kind in found:
        first = same[ds].get(b)
        if first is not None and (ds, a, first) in keys:
            repeats[(ds, a, b)] = first
        tests[(ds, a, b)] = (kind, paired(results.get(ds, a, spec.metric, split),
                                          results.get(ds, b, spec.metric, split)))
    counted = [k for k in tests if k not in repeats]
    adjusted = dict(zip(counted, holm_adjust([tests[k][1].p_value for k in counted]), strict=True))
    m = sum(tests[k][1].p_value is not None for k in counted)
    claims = []
    for ds, a, b in tests:
        kind, result = tests[(ds, a, b)]
        q = adjusted[(ds, a, repeats.get((ds, a, b), b))]  # a repeat takes its first's adjusted p
        unit = _mde_per_sd(result.n, spec.alpha / max(m, 1))
        mde = unit * result.sd if unit is not None and result.sd is not None else None
        cell_n = (len(results.get(ds, a, spec.metric, split)), len(results.get(ds, b, spec.metric, split)))
        claims.append(Claim(ds, a, b, kind, spec.metric, result,
                            verdict(result, higher, spec.alpha, q) if q is not None else "not supported",
                            spec.name, protocol, q, mde, repeats.get((ds, a, b)), cell_n, spec.alpha))
    return claims


def check_claims(results: Results, metric: str | None = None, split: str = "test",
                 specs: tuple[ClaimSpec, ...] | None = None) -> list[Claim]:
    """Every comparison of every claim (``metric`` overrides the claims'), verdicts from Holm per family."""
    return [c for s in summarize(results, metric, split, specs, bayes_samples=0)
            if s.protocol != ALL_ROWS for c in s.comparisons]


def _specs(results: Results, metric: str | None, specs: tuple[ClaimSpec, ...] | None) -> tuple[ClaimSpec, ...]:
    specs = specs if specs is not None else claim_specs(results.layout.claims)
    if metric is None:
        return specs
    return tuple(ClaimSpec(s.name, s.text, s.method, s.baselines, s.datasets, metric, s.rope, s.alpha)
                 for s in specs)


def summarize(results: Results, metric: str | None = None, split: str = "test",
              specs: tuple[ClaimSpec, ...] | None = None, bayes_samples: int = BAYES_SAMPLES) -> list[Summary]:
    """Per claim, per protocol with rows, then over all rows where it spans several: the families and tests.

    ``bayes_samples`` 0 skips the Bayesian test (simulations that need only the verdicts).
    """
    out = []
    for spec in _specs(results, metric, specs):
        higher = METRIC_INFO[spec.metric].higher_is_better
        found = comparisons(results, spec)
        by_protocol = []
        for protocol in PROTOCOLS:
            mine = [f for f in found if results.layout.protocol(f[0]) == protocol]
            if mine:
                by_protocol.append((protocol, _family(results, spec, mine, protocol, split)))
        groups = list(by_protocol)
        if len(by_protocol) > 1:
            groups.append((ALL_ROWS, [c for _, family in by_protocol for c in family]))
        for protocol, family in groups:
            datasets = list(dict.fromkeys(c.dataset for c in family))
            diffs = []
            for ds in datasets:
                means = [c.result.mean_diff for c in family if c.dataset == ds and c.same_as is None
                         and c.result.mean_diff is not None]
                if means:
                    diffs.append(display_factor(spec.metric) * float(np.mean(means)))
            across = across_rows(diffs, spec.rope, spec.alpha, higher, bayes_samples)
            out.append(Summary(protocol, spec, datasets, diffs, family, across))
    return out


def suite_friedman(results: Results, metric: str = "balanced_accuracy",
                   split: str = "test") -> tuple[list[str], list[str], Friedman] | None:
    """Friedman's test over every data set row, for the methods with a value on all of them."""
    layout = results.layout
    datasets = [d for d in layout.datasets if any((d, m) in results.present() for m in layout.methods)]
    methods = [m for m in layout.methods if all(results.get(d, m, metric, split) for d in datasets)]
    if len(datasets) < 2 or len(methods) < 2:
        return None
    scores = np.array([[np.mean(list(results.get(d, m, metric, split).values())) for m in methods]
                       for d in datasets])
    return datasets, methods, friedman(scores, METRIC_INFO[metric].higher_is_better)
