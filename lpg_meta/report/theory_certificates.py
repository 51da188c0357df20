"""The theory report's section on optimised certificates (``certificates.csv`` of ``lpg-meta certify``).

1. **Certificate against test error**, per data set row and prior variant, at the level of methods:
   the runs of one seed share data and initialisation, so seeds of one method are not independent
   units; Kendall's τ_b between the methods' seed means of the certificate and of the run's 0-1
   test error.
2. **"LPG tightens the generalization guarantee"**, stated as a testable claim: on a row, an LPG
   row's certificate is below its base method's (``lpg``, ``lpg_*`` against ``ce``; ``lpg+X``
   against ``X``), paired by seed (``stats.paired``: mean difference, 95 % t interval, two-sided
   p). Where either side is vacuous on every seed (``VACUOUS_FROM``) or fewer than two seeds pair,
   it cannot be decided.

Only plain data is read here: the CSV's columns (``certify.command.COLUMNS``).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from lpg_meta import catalog
from lpg_meta.errors import UserError
from lpg_meta.report.stats import ALPHA, Paired, paired
from lpg_meta.report.theory import is_fixed, overall
from lpg_meta.report.tidy import Results

# Guessing among 10 classes errs 0.9 (every CPU-suite data set has 10): a certificate from there
# on says nothing.
VACUOUS_FROM = 0.9
VARIANT_TITLES = {"init": "prior centred at the initial weights (n = all training examples)",
                  "data": "prior mean learned on half of the training set (n = the other half)"}
UNDECIDED = "cannot be decided"


@dataclass(frozen=True)
class MethodCertificates:
    method: str
    certificate: dict[int, float]  # seed -> value
    test_error: dict[int, float]  # the run's (weights w) 0-1 test error
    test_error_q: dict[int, float]  # the posterior's
    kl: dict[int, float]
    n: int


@dataclass(frozen=True)
class CertificateRow:
    dataset: str
    variant: str
    methods: list[MethodCertificates]
    tau: float | None
    p: float | None


@dataclass(frozen=True)
class Tightening:
    dataset: str
    variant: str
    lpg: str
    base: str
    diff: Paired  # lpg minus base certificate
    verdict: str  # "supports", "contradicts", "no difference shown" or UNDECIDED (with why)


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
                                                                             "test_error_q", "kl")),
                n=int(next(iter(runs.values()))["n"])))
        cert = [float(np.mean(list(m.certificate.values()))) for m in methods]
        error = [float(np.mean(list(m.test_error.values()))) for m in methods]
        tau = p = None
        if len(methods) > 1 and len(set(cert)) > 1 and len(set(error)) > 1:
            result = stats.kendalltau(cert, error)
            tau, p = float(result.statistic), float(result.pvalue)
        out.append(CertificateRow(ds, variant, methods, tau, p))
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
    out = []
    for row in rows:
        by_method = {m.method: m for m in row.methods}
        for m in by_method:
            base = base_of(results, m)
            if base is None or base not in by_method:
                continue
            a, b = by_method[m].certificate, by_method[base].certificate
            diff = paired(a, b)
            if diff.n < 2:
                verdict = f"{UNDECIDED} ({diff.n} paired seed{'s' * (diff.n != 1)})"
            elif min(a.values()) >= VACUOUS_FROM and min(b.values()) >= VACUOUS_FROM:
                verdict = f"{UNDECIDED} (vacuous on every seed)"
            elif diff.p_value is None or diff.p_value >= ALPHA or not diff.mean_diff:
                verdict = "no difference shown"
            else:
                verdict = "supports" if diff.mean_diff < 0 else "contradicts"
            out.append(Tightening(row.dataset, row.variant, m, base, diff, verdict))
    return out


def overall_verdict(items: list[Tightening]) -> str:
    decided = [t.verdict for t in items if not t.verdict.startswith(UNDECIDED)]
    if not decided:
        return f"{UNDECIDED} (no pair of LPG and base rows with two or more seeds and a non-vacuous certificate)"
    return overall(decided)


def _num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _spread(values: dict[int, float]) -> str:
    v = list(values.values())
    return f"{np.mean(v):.3f} ({min(v):.3f}–{max(v):.3f})" if len(v) > 1 else f"{v[0]:.3f}"


def render_certificates_md(results: Results, path: Path) -> str:
    """The Markdown section, or "" where ``path`` does not exist."""
    from tabulate import tabulate

    records = read_certificates(path)
    if not records:
        return ""
    rows = certificate_rows(results, records)
    items = tightenings(results, rows)
    out = ["## Optimised PAC-Bayes certificates (`lpg-meta certify`)", "",
           "Each run's certificate: a diagonal Gaussian posterior optimised from the run's final weights, an upper "
           "bound on its 0-1 error under the training distribution (with the labels trained on), holding with "
           f"probability ≥ 1 − δ (δ = {records[0]['delta']}, of it {records[0]['delta_mc']} for the Monte-Carlo "
           f"estimate). Below {VACUOUS_FROM} it says more than guessing does. Mean over seeds (range).", ""]
    for variant in dict.fromkeys(r.variant for r in rows):
        out += [f"### Variant `{variant}`: {VARIANT_TITLES.get(variant, variant)}", ""]
        body = []
        for row in (r for r in rows if r.variant == variant):
            for m in row.methods:
                body.append([results.layout.dataset_name(row.dataset), results.layout.method_name(m.method),
                             str(len(m.certificate)), str(m.n), _spread(m.certificate),
                             f"{np.mean(list(m.kl.values())):.0f}", _spread(m.test_error_q), _spread(m.test_error)])
        out += [tabulate(body, ["Data set", "Method", "seeds", "n", "certificate", "KL (nats)", "test error of Q",
                                "test error of w"], tablefmt="github", disable_numparse=True), ""]
        for row in (r for r in rows if r.variant == variant):
            ranking = ("fewer than two methods with distinct values: no ranking" if row.tau is None else
                       f"Kendall's τ = {row.tau:+.2f} (p = {_num(row.p)}) over {len(row.methods)} methods' means")
            out.append(f"- {results.layout.dataset_name(row.dataset)}: certificate against test error: {ranking}.")
        out.append("")
    out += ["### Does LPG tighten the generalization guarantee?", "",
            "Claim: an LPG row's certificate is below its base method's on the same data set row (paired by seed; "
            f"difference LPG − base, 95 % t interval, two-sided p, α = {ALPHA}).", ""]
    if items:
        body = [[results.layout.dataset_name(t.dataset), t.variant, results.layout.method_name(t.lpg),
                 results.layout.method_name(t.base), str(t.diff.n),
                 f"{_num(t.diff.mean_diff)} [{_num(t.diff.ci_low)}, {_num(t.diff.ci_high)}]", _num(t.diff.p_value),
                 t.verdict] for t in items]
        out += [tabulate(body, ["Data set", "variant", "LPG row", "base", "pairs", "Δ certificate [95 % CI]", "p",
                                "verdict"], tablefmt="github", disable_numparse=True), ""]
    out += [f"Verdict on \"LPG tightens the generalization guarantee\": {overall_verdict(items)}.", ""]
    return "\n".join(out)
