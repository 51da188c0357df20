"""The paper's claims, tested on the suite's per-seed results (``lpg-meta claims``).

Two claims of the LPG paper: LPG "consistently outperforms existing methods" on balanced,
long-tail and noisy data, and it "can be combined with them as a plug-in". For each data set
row: LPG (the ``lpg`` row) against each non-LPG row, and each ``lpg+X`` against ``X``, paired
by seed (``stats.paired``: two-sided paired t-test, 95 % t interval of the mean difference).
A comparison is *supported* when the difference favours the first method and is significant at
α = 0.05, *contradicted* when it favours the second and is significant, else *not supported*
(METHOD.md 8). No correction for the many comparisons: each row is one claim as a paper would
state it, and the summary counts them.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lpg_meta.collapse import COLLAPSE_DROP
from lpg_meta.report.layout import METRIC_INFO, PROTOCOLS
from lpg_meta.report.render import latex_escape
from lpg_meta.report.stats import ALPHA, Friedman, Paired, friedman, paired, verdict
from lpg_meta.report.tidy import COLLAPSED, Results
from lpg_meta.results import write_text_atomic

CLAIMS_FIELDS = ("dataset", "method", "baseline", "metric", "n", "mean_diff", "ci_low", "ci_high", "p_value",
                 "test", "verdict")
VERDICTS = ("supported", "not supported", "contradicted")


@dataclass(frozen=True)
class Claim:
    """``method`` against ``baseline`` on one data set row; differences in the metric's raw units."""

    dataset: str
    method: str
    baseline: str
    kind: str  # 'lpg' (LPG against a baseline) or 'plug-in' (lpg+X against X)
    metric: str
    result: Paired
    verdict: str


def comparisons(results: Results) -> list[tuple[str, str, str, str]]:
    """(dataset, method, baseline, kind) for every comparison the suite's rows allow, in suite order."""
    layout = results.layout
    present = results.present()
    method_of = {m: str(info.get("method") or m) for m, info in layout.methods.items()}
    out = []
    for ds in layout.datasets:
        rows = [m for m in layout.methods if (ds, m) in present]
        for lpg in (m for m in rows if method_of[m] == "lpg"):
            out += [(ds, lpg, b, "lpg") for b in rows if not method_of[b].startswith("lpg")]
        for m in rows:
            base = layout.base_of(m)
            if base is not None and (ds, base) in present:
                out.append((ds, m, base, "plug-in"))
    return out


def check_claims(results: Results, metric: str = "balanced_accuracy", split: str = "test") -> list[Claim]:
    """Every comparison, tested on the last-epoch ``metric`` of ``split``."""
    higher = METRIC_INFO[metric].higher_is_better
    claims = []
    for ds, m, b, kind in comparisons(results):
        result = paired(results.get(ds, m, metric, split), results.get(ds, b, metric, split))
        claims.append(Claim(ds, m, b, kind, metric, result, verdict(result, higher)))
    return claims


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


def _num(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def render_claims_csv(claims: list[Claim]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CLAIMS_FIELDS)
    for c in claims:
        r = c.result
        writer.writerow([c.dataset, c.method, c.baseline, c.metric, r.n, _num(r.mean_diff), _num(r.ci_low),
                         _num(r.ci_high), _num(r.p_value), r.test, c.verdict])
    return out.getvalue()


def _summary(results: Results, claims: list[Claim]) -> list[tuple[str, str]]:
    """(protocol, one line) per protocol that has comparisons."""
    lines = []
    for kind in PROTOCOLS:
        mine = [c for c in claims if results.layout.protocol(c.dataset) == kind]
        parts = []
        for group, label in (("lpg", "LPG against each baseline"), ("plug-in", "LPG+X against X")):
            these = [c for c in mine if c.kind == group]
            if not these:
                continue
            counts = {v: sum(c.verdict == v for c in these) for v in VERDICTS}
            # "Consistently outperforms": every comparison must hold; one significant loss contradicts it.
            overall = "supported" if counts["supported"] == len(these) else (
                "contradicted" if counts["contradicted"] else "not supported")
            parts.append(f"{label}: {counts['supported']} supported, {counts['not supported']} not supported, "
                         f"{counts['contradicted']} contradicted of {len(these)} comparisons "
                         f"on {len({c.dataset for c in these})} data sets; the claim is {overall}")
        if parts:
            lines.append((kind, "; ".join(parts) + "."))
    return lines


def _points(value: float | None, metric: str) -> str:
    if value is None:
        return "–"
    factor = 1.0 if metric == "nll" else 100.0
    return f"{factor * value:+.2f}"


def _p(value: float | None) -> str:
    return "–" if value is None else (f"{value:.3f}" if value >= 0.001 else f"{value:.1e}")


def _rows(results: Results, claims: list[Claim]) -> list[list[str]]:
    layout = results.layout
    return [[layout.dataset_name(c.dataset), layout.method_name(c.method), layout.method_name(c.baseline),
             str(c.result.n), _points(c.result.mean_diff, c.metric),
             f"[{_points(c.result.ci_low, c.metric)}, {_points(c.result.ci_high, c.metric)}]"
             if c.result.ci_low is not None else "–", _p(c.result.p_value), c.verdict] for c in claims]


HEADERS = ["Data set", "Method", "Baseline", "n", "Δ", "95 % CI", "p", "Verdict"]


def _definition(metric: str, split: str) -> str:
    unit = "" if metric == "nll" else " (percentage points)"
    return (f"Δ: mean over paired seeds of method minus baseline, last-epoch {split} {METRIC_INFO[metric].name}"
            f"{unit}; 95 % CI: t interval of that mean; p: two-sided paired t-test. Verdict (METHOD.md 8): "
            f"supported when Δ favours the method and p < {ALPHA}, contradicted when it favours the baseline "
            "and p < 0.05, else not supported. Uncorrected: each row is one claim as a paper would state it. "
            "A protocol's claim (LPG 'consistently outperforms'; it works as a plug-in) is supported when every "
            "comparison is, contradicted when any is, else not supported.")


def _friedman_line(results: Results, found: tuple[list[str], list[str], Friedman] | None) -> str:
    if found is None:
        return "Friedman test: fewer than 2 data sets or methods with a value on every data set."
    datasets, methods, f = found
    ranked = sorted(zip(f.average_ranks, methods, strict=True))
    listed = ", ".join(f"{results.layout.method_name(m)} {r:.2f}" for r, m in ranked)
    return (f"Friedman test over all {f.n_datasets} data set rows and the {f.n_methods} methods run on every "
            f"one: χ²_F = {f.chi2:.2f} (p = {_p(f.p_chi2)}), F_F = {f.f_stat:.2f} (p = {_p(f.p_f)}); Nemenyi "
            f"critical difference {f.critical_difference:.2f} at α = {f.alpha}. Average ranks: {listed}.")


def _collapse_line(results: Results, claims: list[Claim]) -> str:
    """How many compared runs collapsed (``lpg_meta.collapse``): a paired mean can hide one."""
    cells = sorted({(c.dataset, m) for c in claims for m in (c.method, c.baseline)})
    counts = [(ds, m, sum(v > 0.5 for v in flags.values()), len(flags))
              for ds, m in cells if (flags := results.get(ds, m, COLLAPSED, "test"))]
    hit = [f"{results.layout.method_name(m)} on {ds} {k}/{n}" for ds, m, k, n in counts if k]
    total = sum(n for *_, n in counts)
    return (f"Collapsed runs (last epoch more than {100 * COLLAPSE_DROP:.0f} points of test balanced accuracy "
            f"below the run's best; kept in every mean): {'; '.join(hit) if hit else 'none'}, "
            f"of {total} runs of the compared cells.")


def render_claims_md(results: Results, claims: list[Claim], metric: str, split: str) -> str:
    from tabulate import tabulate

    out = [f"# Claims of the LPG paper on the {results.layout.suite or 'results'} suite", "",
           _definition(metric, split), ""]
    for kind, line in _summary(results, claims):
        out += [f"- **{kind}**: {line}"]
    out += ["", _collapse_line(results, claims), "",
            _friedman_line(results, suite_friedman(results, metric, split)), ""]
    for kind in PROTOCOLS:
        mine = [c for c in claims if results.layout.protocol(c.dataset) == kind]
        if mine:
            out += [f"## {kind}", "", tabulate(_rows(results, mine), HEADERS, tablefmt="github",
                                               disable_numparse=True), ""]
    return "\n".join(out)


def _matrix_cell(c: Claim | None) -> str:
    if c is None:
        return "--"
    r = c.result
    text = _points(r.mean_diff, c.metric)
    if r.ci_low is not None:
        text += f" [{_points(r.ci_low, c.metric)}, {_points(r.ci_high, c.metric)}]"
    text = latex_escape(text)
    marked = {"supported": f"\\lpgsupported{{{text}}}", "contradicted": f"\\lpgcontradicted{{{text}}}"}
    return marked.get(c.verdict, text)


def render_claims_tex(results: Results, claims: list[Claim], metric: str, split: str) -> str:
    """One booktabs ``table*`` per protocol: a row per comparison, a column per data set row."""
    layout = results.layout
    lines = ["% lpg-meta claims: table* floats sized for a two-column paper; needs \\usepackage{booktabs}.",
             "\\providecommand{\\lpgsupported}[1]{\\textbf{#1}}",
             "\\providecommand{\\lpgcontradicted}[1]{\\textit{#1}}"]
    summary = dict(_summary(results, claims))
    for kind in PROTOCOLS:
        mine = [c for c in claims if layout.protocol(c.dataset) == kind]
        if not mine:
            continue
        datasets = list(dict.fromkeys(c.dataset for c in mine))
        pairs = list(dict.fromkeys((c.method, c.baseline) for c in mine))
        cell = {(c.method, c.baseline, c.dataset): c for c in mine}
        caption = (f"Claims on the {kind} data sets ({layout.suite or 'results'}): Δ [95 % CI] of the row's "
                   f"method minus its baseline. Bold: supported; italic: contradicted.")
        lines += ["\\begin{table*}[t]", "\\centering", "\\footnotesize", "\\setlength{\\tabcolsep}{4pt}",
                  f"\\caption{{{latex_escape(caption)}}}", f"\\label{{tab:{layout.suite or 'results'}-claims-{kind}}}",
                  f"\\begin{{tabular}}{{@{{}}l{'r' * len(datasets)}@{{}}}}", "\\toprule",
                  " & ".join(["Comparison", *(latex_escape(layout.dataset_name(d)) for d in datasets)]) + " \\\\",
                  "\\midrule"]
        for m, b in pairs:
            label = f"{layout.method_name(m)} vs {layout.method_name(b)}"
            lines.append(" & ".join([latex_escape(label), *(_matrix_cell(cell.get((m, b, d))) for d in datasets)])
                         + " \\\\")
        lines += ["\\bottomrule", "\\end{tabular}", "", "\\smallskip", "\\begin{minipage}{\\linewidth}\\scriptsize",
                  latex_escape(_definition(metric, split)) + "\\par", latex_escape(summary[kind]) + "\\par",
                  "\\end{minipage}", "\\end{table*}", ""]
    friedman_text = latex_escape(_friedman_line(results, suite_friedman(results, metric, split)))
    friedman_text = friedman_text.replace("$\\chi$$^2$\\_F", "$\\chi^2_F$").replace("F\\_F", "$F_F$")
    lines.append(f"\\noindent {friedman_text}\\par")
    return "\n".join(lines) + "\n"


def write_claims(results: Results, out: str | Path, metric: str = "balanced_accuracy",
                 split: str = "test") -> list[Path]:
    """Write ``claims.md``, ``claims.tex`` and ``claims.csv`` into ``out``; return their paths."""
    out = Path(out)
    claims = check_claims(results, metric, split)
    texts = {out / "claims.md": render_claims_md(results, claims, metric, split),
             out / "claims.tex": render_claims_tex(results, claims, metric, split),
             out / "claims.csv": render_claims_csv(claims)}
    for path, text in texts.items():
        write_text_atomic(path, text)
    return list(texts)
