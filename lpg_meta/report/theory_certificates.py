"""The theory report's section on optimised certificates (``certificates.csv`` of ``lpg-meta certify``).

1. **Certificate against test error**, per data set row and prior variant, at the level of methods:
   the runs of one seed share data and initialisation, so seeds of one method are not independent
   units; Kendall's τ_b between the methods' seed means of the certificate and of the run's 0-1
   test error, with its p Holm-adjusted over the variant's rows.
2. **"LPG tightens the generalization guarantee"**, stated as a testable claim, per prior variant:
   - per data set row, an LPG row's certificate against its base method's (``lpg``, ``lpg_*`` against
     ``ce``; ``lpg+X`` against ``X``), paired by seed (``stats.paired``: mean difference, 95 % t
     interval, two-sided p), Holm-adjusted over the variant's pairs; the pair's verdict comes from the
     adjusted p. Where either side is vacuous on every seed (``VACUOUS_FROM``) or fewer than two seeds
     pair, it cannot be decided;
   - across rows, the claim's unit: per row the mean of its pairs' differences (rows whose every pair
     is vacuous on both sides are left out: a difference between two vacuous bounds says nothing),
     tested by ``across.across_rows`` (exact signed-rank p; Bayesian signed-rank with a ROPE of
     ``ROPE`` in certificate units). Its verdict is the claim's.

Only plain data is read here: the CSV's columns (``certify.command.COLUMNS``).
"""

from __future__ import annotations

import csv
import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lpg_meta import catalog
from lpg_meta.errors import UserError
from lpg_meta.report.across import Across, across_rows
from lpg_meta.report.stats import ALPHA, Paired, format_p, holm_adjust, paired
from lpg_meta.report.theory import is_fixed, kendall
from lpg_meta.report.tidy import Results

# Guessing among 10 classes errs 0.9 (every CPU-suite data set has 10): a certificate from there
# on says nothing.
VACUOUS_FROM = 0.9
VARIANT_TITLES = {"init": "prior centred at the initial weights (n = all training examples)",
                  "data": "prior mean: the run's own config and method trained on a seeded half of the training set; "
                          "Q starts there (n = the other half)"}
UNDECIDED = "cannot be decided"
ROPE = 0.01  # certificates within 0.01 (one point of error rate) are practically equal, as the claims' ±1 point


@dataclass(frozen=True)
class MethodCertificates:
    method: str
    certificate: dict[int, float]  # seed -> value
    test_error: dict[int, float]  # the run's (weights w) 0-1 test error
    test_error_q: dict[int, float]  # the posterior's
    kl: dict[int, float]
    train_error_upper: dict[int, float]  # Q's error on the n examples, Monte-Carlo upper bound
    n: int


@dataclass(frozen=True)
class CertificateRow:
    dataset: str
    variant: str
    methods: list[MethodCertificates]
    tau: float | None
    p: float | None
    p_adjusted: float | None = None  # Holm over the variant's rows with a τ


@dataclass(frozen=True)
class Tightening:
    dataset: str
    variant: str
    lpg: str
    base: str
    diff: Paired  # lpg minus base certificate
    p_adjusted: float | None  # Holm over the variant's pairs
    verdict: str  # "supports", "contradicts", "no difference shown" or UNDECIDED (with why)

    @property
    def informative(self) -> bool:
        """Not vacuous on both sides (the pair's difference can say something)."""
        return not self.verdict.endswith("(vacuous on every seed)")


@dataclass(frozen=True)
class AcrossCertificates:
    variant: str
    datasets: list[str]  # the rows tested (some pair not vacuous on both sides)
    left_out: list[str]  # rows whose every pair is vacuous on both sides
    across: Across


def read_certificates(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def certificate_rows(results: Results, records: list[dict[str, str]]) -> list[CertificateRow]:
    out = []
    order = {m: i for i, m in enumerate(results.layout.methods)}
    for ds, variant in dict.fromkeys((r["row"], r["variant"]) for r in records):
        mine = [r for r in records if (r["row"], r["variant"]) == (ds, variant)]
        methods = []
        for m in sorted(dict.fromkeys(r["method"] for r in mine), key=lambda m: (order.get(m, len(order)), m)):
            runs = {int(r["seed"]): r for r in mine if r["method"] == m}
            methods.append(MethodCertificates(
                m, *({s: float(r[col]) for s, r in runs.items()} for col in ("certificate", "test_error_w",
                                                                             "test_error_q", "kl",
                                                                             "mc_train_error_upper")),
                n=int(next(iter(runs.values()))["n"])))
        cert = [float(np.mean(list(m.certificate.values()))) for m in methods]
        error = [float(np.mean(list(m.test_error.values()))) for m in methods]
        out.append(CertificateRow(ds, variant, methods, *kendall(cert, error)))
    for variant in dict.fromkeys(r.variant for r in out):
        mine = [i for i, r in enumerate(out) if r.variant == variant]
        for i, q in zip(mine, holm_adjust([out[i].p for i in mine]), strict=True):
            out[i] = dataclasses.replace(out[i], p_adjusted=q)
    return out


def base_of(results: Results, m: str) -> str | None:
    """The method a plug-in row wraps, as declared (``lpg+X`` -> ``X``, ``lpg`` and ``lpg_*`` alone -> the
    reference baseline ``ce``); None for a row that runs no plug-in, a hand-set intervention or an
    undeclared method."""
    if is_fixed(results, m):
        return None
    try:
        return catalog.plugin_base(results.layout.method_of(m))
    except UserError:
        return None


def tightenings(results: Results, rows: list[CertificateRow]) -> list[Tightening]:
    """Every (row, LPG row, base) pair; Holm over each variant's testable pairs."""
    found = []
    for row in rows:
        by_method = {m.method: m for m in row.methods}
        for m in by_method:
            base = base_of(results, m)
            if base is not None and base in by_method:
                a, b = by_method[m].certificate, by_method[base].certificate
                vacuous = min(a.values()) >= VACUOUS_FROM and min(b.values()) >= VACUOUS_FROM
                found.append((row, m, base, paired(a, b), vacuous))
    out = []
    for variant in dict.fromkeys(row.variant for row, *_ in found):
        mine = [f for f in found if f[0].variant == variant]
        testable = [diff.n >= 2 and not vacuous for *_, diff, vacuous in mine]
        adjusted = iter(holm_adjust([f[3].p_value for f, ok in zip(mine, testable, strict=True) if ok]))
        for (row, m, base, diff, vacuous), ok in zip(mine, testable, strict=True):
            q = next(adjusted) if ok else None
            if diff.n < 2:
                verdict = f"{UNDECIDED} ({diff.n} paired seed{'s' * (diff.n != 1)})"
            elif vacuous:
                verdict = f"{UNDECIDED} (vacuous on every seed)"
            elif q is None or q >= ALPHA or not diff.mean_diff:
                verdict = "no difference shown"
            else:
                verdict = "supports" if diff.mean_diff < 0 else "contradicts"
            out.append(Tightening(row.dataset, variant, m, base, diff, q, verdict))
    return out


def across_certificates(items: list[Tightening], alpha: float = ALPHA) -> list[AcrossCertificates]:
    """Per variant, the claim tested over the rows (see the module's docstring)."""
    out = []
    for variant in dict.fromkeys(t.variant for t in items):
        mine = [t for t in items if t.variant == variant and t.diff.mean_diff is not None]
        datasets = list(dict.fromkeys(t.dataset for t in mine if t.informative))
        left_out = [ds for ds in dict.fromkeys(t.dataset for t in mine) if ds not in datasets]
        diffs = [float(np.mean([t.diff.mean_diff for t in mine if t.dataset == ds and t.informative]))
                 for ds in datasets]
        out.append(AcrossCertificates(variant, datasets, left_out,
                                      across_rows(diffs, ROPE, alpha, higher_is_better=False)))
    return out


def _num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _spread(values: dict[int, float]) -> str:
    v = list(values.values())
    return f"{np.mean(v):.3f} ({min(v):.3f}–{max(v):.3f})" if len(v) > 1 else f"{v[0]:.3f}"


def _tuning_note(records: list[dict[str, str]]) -> str:
    """Whether the certificates' union bound covers the tuned cells' choice of hyperparameters."""
    if any(not r.get("candidates") for r in records):
        return ("Whether a certificate covers its cell's choice of hyperparameters is not recorded for all of them "
                "(certified before lpg-meta recorded it).")
    uncovered = sorted({f"{r['row']}/{r['method']}" for r in records if r["candidates_blind"] != "True"})
    counts = sorted({int(r["candidates"]) for r in records if r["candidates_blind"] == "True"} - {1})
    if not counts and not uncovered:
        return ""  # no cell was tuned
    covered = ("Tuned cells chose their values on data that includes the bound's examples; their candidates "
               f"({' or '.join(map(str, counts))} values a cell) were drawn before any data was seen, so the union "
               "bound also runs over them (ln of their number in nats) and covers the choice.")
    if not uncovered:
        return covered
    return (covered + f" {len(uncovered)} cell{'s' * (len(uncovered) != 1)} ({', '.join(uncovered)}) had trials "
            "guided by earlier scores: their certificates do not cover the choice of their hyperparameters.")


def render_certificates_md(results: Results, path: Path) -> str:
    """The Markdown section, or "" where ``path`` does not exist."""
    from tabulate import tabulate

    records = read_certificates(path)
    if not records:
        return ""
    rows = certificate_rows(results, records)
    items = tightenings(results, rows)
    out = ["## Optimised PAC-Bayes certificates (`lpg-meta certify`)", "",
           "Each run's certificate: an upper bound on the 0-1 error of a diagonal Gaussian posterior Q over the "
           "network's weights, under the training distribution with the labels trained on (noisy labels on noisy "
           "rows, the long-tailed class mix on long-tail rows: the test error beside it is on the test split's "
           f"labels and mix), holding with probability ≥ 1 − δ (δ = {records[0]['delta']}, of it "
           f"{records[0]['delta_mc']} for the Monte-Carlo estimate). Below {VACUOUS_FROM} it says more than "
           "guessing does. Mean over seeds (range). " + _tuning_note(records), ""]
    for variant in dict.fromkeys(r.variant for r in rows):
        out += [f"### Variant `{variant}`: {VARIANT_TITLES.get(variant, variant)}", ""]
        body = []
        for row in (r for r in rows if r.variant == variant):
            for m in row.methods:
                body.append([results.layout.dataset_name(row.dataset), results.layout.method_name(m.method),
                             str(len(m.certificate)), str(m.n), _spread(m.certificate),
                             f"{np.mean(list(m.kl.values())):.0f}", _spread(m.train_error_upper),
                             _spread(m.test_error_q), _spread(m.test_error)])
        out += [tabulate(body, ["Data set", "Method", "seeds", "n", "certificate", "KL (nats)",
                                "train error of Q (upper)", "test error of Q", "test error of the run"],
                         tablefmt="github", disable_numparse=True),
                "", "What the certificate adds to Q's train error (its Monte-Carlo upper bound) is the price of n "
                "examples, of the KL and of the union over the prior's σ grid: at KL 0, of n and the grid alone.", ""]
        for row in (r for r in rows if r.variant == variant):
            ranking = ("fewer than two methods with distinct values: no ranking" if row.tau is None else
                       f"Kendall's τ = {row.tau:+.2f} (p = {format_p(row.p)}, Holm over the rows "
                       f"{format_p(row.p_adjusted)}) over {len(row.methods)} methods' means")
            out.append(f"- {results.layout.dataset_name(row.dataset)}: certificate against test error: {ranking}.")
        out.append("")
    out += ["### Does LPG tighten the generalization guarantee?", "",
            "Claim: an LPG row's certificate is below its base method's. Per data set row and pair, paired by seed "
            "(difference LPG − base, 95 % t interval, two-sided p, Holm-adjusted over the variant's pairs, "
            f"α = {ALPHA}); the claim itself is tested across the rows (per row the mean of its pairs' "
            "differences; exact two-sided signed-rank p; Bayesian signed-rank test with a ROPE of "
            f"±{ROPE} in certificate units).", ""]
    if items:
        body = [[results.layout.dataset_name(t.dataset), t.variant, results.layout.method_name(t.lpg),
                 results.layout.method_name(t.base), str(t.diff.n),
                 f"{_num(t.diff.mean_diff)} [{_num(t.diff.ci_low)}, {_num(t.diff.ci_high)}]",
                 format_p(t.diff.p_value), format_p(t.p_adjusted), t.verdict] for t in items]
        out += [tabulate(body, ["Data set", "variant", "LPG row", "base", "pairs", "Δ certificate [95 % CI]", "p",
                                "Holm p", "verdict"], tablefmt="github", disable_numparse=True), ""]
    else:
        out += ["No data set row has both an LPG row and its base method certified.", ""]
    for a in across_certificates(items):
        t = a.across
        probabilities = ("" if t.p_better is None else f"; P(LPG tighter) {t.p_better:.2f}, P(equivalent) "
                         f"{t.p_rope:.2f}, P(LPG looser) {t.p_worse:.2f}")
        test = "" if t.p_value is None else f", signed-rank p {format_p(t.p_value)}"
        left = (f" ({', '.join(results.layout.dataset_name(d) for d in a.left_out)} left out: vacuous on both "
                "sides)" if a.left_out else "")
        mean = "" if t.mean is None else f", mean Δ {t.mean:+.3f}"
        out.append(f"- Verdict on \"LPG tightens the generalization guarantee\", variant `{a.variant}`, over "
                   f"{t.n} row{'s' * (t.n != 1)}{left}: {t.verdict}{mean}{test}{probabilities}.")
    if items:
        out.append("")
    return "\n".join(out)
