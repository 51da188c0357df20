"""``lpg-meta theory``: theory.md, theory.tex and plots/theory_* (``report.theory_plots``) from the tidy extract.

The LaTeX is a set of ``table`` floats, each one column wide (3.25 in; it fits any wider text),
split by protocol and by half of the conjecture, with a ``\\label`` each, math in math mode and
every definition and verdict inside the float it belongs to (nothing lands in the body text).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lpg_meta.catalog.methods import PROPOSED, REFERENCE
from lpg_meta.report.layout import PROTOCOL_TITLES
from lpg_meta.report.plots import PLOTS_DIR
from lpg_meta.report.render import latex_escape
from lpg_meta.report.stats import ALPHA, Paired, format_p, t_half_width
from lpg_meta.report.theory import (
    COVARIATES,
    LABEL_NOISE_RATE,
    NOISE_RATE,
    TRAIN_COUNT,
    VACUOUS_AT,
    BoundRow,
    ClassData,
    Correlation,
    Intervention,
    bound_rows,
    class_data,
    correlation_verdict,
    interventions,
    is_fixed,
    nominal_rates_differ,
    overall,
    ranking_sentence,
    spearman_by_class,
)
from lpg_meta.report.tidy import Results
from lpg_meta.results import write_text_atomic

THEORY_MD, THEORY_TEX = "theory.md", "theory.tex"
AGAINST = {TRAIN_COUNT: "training count", NOISE_RATE: "noise rate (true class)",
           LABEL_NOISE_RATE: "noise rate (label)"}
CLAIMS = {"tail": "amplifying a class's gradient enhances its learning (tail classes)",
          "noisy": "dampening a class's gradient suppresses overfitting (noisy classes)"}
NOT_A_TEST = "not a test"


@dataclass(frozen=True)
class CorrelationRow:
    data: ClassData
    typical: Correlation  # the typical (median-over-epochs) amplification
    last: Correlation  # the last epoch's
    applies: bool  # False on noisy rows whose classes share one nominal rate (sym, pair)

    @property
    def half(self) -> str:
        return "tail" if self.data.covariate == TRAIN_COUNT else "noisy"


@dataclass(frozen=True)
class Theory:
    bounds: list[BoundRow]
    correlations: list[CorrelationRow]
    interventions: list[Intervention]


def analyse(results: Results) -> Theory:
    """Everything the report shows, computed from ``results`` alone."""
    rows = []
    for ds in results.layout.datasets:
        covariates = COVARIATES.get(results.layout.protocol(ds), ())
        for m in (m for m in results.layout.methods if not is_fixed(results, m)):
            for data in filter(None, (class_data(results, ds, m, c) for c in covariates)):
                applies = data.covariate == TRAIN_COUNT or nominal_rates_differ(results, ds)
                rows.append(CorrelationRow(data, spearman_by_class(data.x, data.typical_amp),
                                           spearman_by_class(data.x, data.last_amp), applies))
    return Theory(bound_rows(results), rows, interventions(results))


def _f(value: float | None, tex: bool = False, digits: int = 2) -> str:
    if value is None:
        return "--" if tex else "–"
    text = f"{value:+.{digits}f}"
    return f"${text}$" if tex else text.replace("-", "−")  # a minus sign, not a hyphen


def _p(value: float | None, tex: bool = False) -> str:
    """Four significant digits (``format_p``), so the side of alpha shows; LaTeX math where needed."""
    if value is None:
        return "--" if tex else "–"
    text = format_p(value)
    if not tex:
        return text
    if "e" in text:
        mantissa, exponent = text.split("e")
        return f"${mantissa}\\cdot 10^{{{int(exponent)}}}$"
    return text.replace("<", "$<$").replace(">", "$>$")


def _mean_ci(values: dict[int, float]) -> str:
    v = np.array(list(values.values()), dtype=float)
    if not len(v):
        return "–"
    ci = f" ± {100 * t_half_width(v):.1f}" if len(v) > 1 else ""
    return f"{100 * v.mean():.1f}{ci}"


def verdict_lines(results: Results, theory: Theory) -> list[str]:
    """One line per half of the conjecture."""
    lines = []
    for half, claim in CLAIMS.items():
        corr = [correlation_verdict(r.typical) for r in theory.correlations if r.half == half and r.applies]
        acts = [i.verdict for i in theory.interventions if i.target == half]
        if not corr and not acts:
            lines.append(f"{half} half ({claim}): no data.")
            continue
        count = {v: (corr.count(v), acts.count(v)) for v in ("supports", "contradicts")}
        lines.append(
            f"{half} half ({claim}): correlation {count['supports'][0]} for, {count['contradicts'][0]} against "
            f"of {len(corr)} readings that test it; intervention {count['supports'][1]} for, "
            f"{count['contradicts'][1]} against of {len(acts)} rows (α = {ALPHA}). Verdict: correlational "
            f"{overall(corr)}; causal {overall(acts)}.")
    return lines


# ---- the tables, as (group, cells) rows: plain text for Markdown, LaTeX where tex=True

def _bound_rows(results: Results, theory: Theory, protocol: str, tex: bool) -> list[tuple[str, list[str]]]:
    rows = []
    for b in theory.bounds:
        if results.layout.protocol(b.dataset) != protocol:
            continue
        bounds = [r[2] for r in b.runs]
        shown = "vacuous" if b.vacuous else f"{min(bounds):.3f}–{max(bounds):.3f}"
        none = "--" if tex else "–"
        rows.append(("", [_dataset_cell(results, b.dataset, tex), str(b.n_methods),
                          latex_escape(shown) if tex else shown,
                          none if b.vacuous else _f(b.tau_methods, tex),
                          none if b.vacuous else _p(b.p_methods_adjusted, tex), _f(b.tau_kl, tex),
                          _p(b.p_kl_adjusted, tex)]))
    return rows


def _dataset_cell(results: Results, ds: str, tex: bool) -> str:
    name = results.layout.dataset_name(ds)
    if not tex:
        return name
    head, paren, rest = name.partition(" (")
    if not paren:
        return latex_escape(name)
    return f"\\begin{{tabular}}[t]{{@{{}}l@{{}}}}{latex_escape(head)}\\\\({latex_escape(rest)}\\end{{tabular}}"


def _correlation_rows(results: Results, theory: Theory, covariate: str, tex: bool) -> list[tuple[str, list[str]]]:
    rows = []
    for r in theory.correlations:
        if r.data.covariate != covariate:
            continue
        name = results.layout.method_name(r.data.method)
        row = [latex_escape(name) if tex else name, _f(r.typical.rho, tex),
               _p(r.typical.p_value, tex) if r.applies else ""]
        if not tex:
            row += [_f(r.last.rho), _p(r.last.p_value) if r.applies else ""]
        row += ["$<0$" if tex else "< 0", correlation_verdict(r.typical) if r.applies else NOT_A_TEST]
        rows.append((_dataset_title(results, r.data.dataset, tex), row))
    return rows


def _dataset_title(results: Results, ds: str, tex: bool) -> str:
    name = results.layout.dataset_name(ds)
    return latex_escape(name) if tex else name


def _diff(c: Paired | None, tex: bool) -> list[str]:
    if c is None or c.mean_diff is None:
        return ["--" if tex else "–"] * 3
    ci = (f"[{100 * c.ci_low:+.1f}, {100 * c.ci_high:+.1f}]" if c.ci_low is not None else "")
    ci = ci.replace("-", "$-$") if tex else ci.replace("-", "−")
    return [_f(100 * c.mean_diff, tex, 1), ci, _p(c.p_value, tex)]


def _intervention_rows(results: Results, theory: Theory, half: str, tex: bool) -> list[tuple[str, list[str]]]:
    rows = []
    reference, proposed = (results.layout.row_of(method) for method in (REFERENCE, PROPOSED))
    for i in theory.interventions:
        if i.target != half:
            continue
        # few-shot: amplify up, dampen down; gap: amplify wider, dampen narrower (theory.interventions)
        predicted = ">0" if i.action == "amplify" else "<0"
        classes = ", ".join(map(str, i.classes))
        row = [i.action, *_diff(i.against.get(reference or ""), tex)]
        if not tex:
            row = [results.layout.method_name(i.method), classes, _mean_ci(i.values), *row[1:],
                   " ".join(_diff(i.against.get(proposed or ""), False)[:2])]
        row += [f"${predicted}$" if tex else predicted.replace(">", "> ").replace("<", "< "), i.verdict]
        group = f"{results.layout.dataset_name(i.dataset)}; classes {classes}" if tex else \
            results.layout.dataset_name(i.dataset)
        rows.append((latex_escape(group) if tex else group, row))
    return rows


BOUND_NOTE = ("Bound: the PAC-Bayes bound on each run's 0-1 test error (posterior N(w, σ²I), prior N(w0, σ²I); "
              "docs/method.md §9). τ: Kendall's τ_b between the methods' seed means of the bound (or of the KL "
              "term ‖w − w0‖²/(2σ²)) and of the test error: methods are the units, as one seed's runs share data "
              "and initialisation; k: the number of methods; p: Kendall's test, Holm-adjusted over the data set "
              "rows (the bound's and the KL term's apart). Predicted: τ > 0. "
              f"A bound of {VACUOUS_AT} or more on every run is vacuous: it ranks nothing and gets no τ.")
CORRELATION_NOTE = (
    "Amplification: per epoch, the mean over a class's training samples of ‖g̃‖/‖g‖ (g the logit gradient, "
    "g̃ the perturbed one); per run, the median over epochs of its log, exponentiated, so that epochs in which "
    "samples with ‖g‖ near 0 blow the ratio up do not decide it. r_s: Spearman's rank correlation of that "
    "amplification with the class's {against} over the pooled (class, seed) pairs; p: a permutation test "
    "reassigning the classes' values among the classes, the same in every seed. Predicted: r_s < 0 ({claim}).")
NOISY_EXTRA = (" Noise rate (true class): the share of the class's samples whose label was flipped; (label): the "
               "share of the samples carrying the label whose true class is another. Sym. and pair noise give "
               "every class one nominal rate: there r_s is shown but is not a test and has no p.")
INTERVENTION_NOTE = ("Intervention: hand-set g̃ = (1 + a)g on the listed classes, a = ±0.5, no meta-learning. "
                     "Δ: {metric} of the row minus CE's, percentage points, paired by seed, 95 % t interval, "
                     "two-sided paired t-test. Predicted sign of Δ: amplifying {target} {up}, dampening {down}. "
                     "'supports' / 'contradicts': significant at α = {alpha} in / against the predicted sign.")


def _intervention_note(half: str) -> str:
    if half == "tail":
        return INTERVENTION_NOTE.format(metric="few-shot accuracy", target="the tail", up="raises it (> 0)",
                                        down="lowers it (< 0)", alpha=ALPHA)
    return INTERVENTION_NOTE.format(metric="peak-to-last gap of test accuracy", target="the noisy classes",
                                    up="widens it (> 0)", down="narrows it (< 0)", alpha=ALPHA)


def _sections(results: Results, theory: Theory, tex: bool) -> list[tuple[str, str, list[str], list, str]]:
    """(label suffix, caption, header, rows, note) of every table that has rows, in order."""
    out = []
    lines = dict(zip(CLAIMS, verdict_lines(results, theory), strict=True))
    for protocol in ("balanced", "long-tail", "noisy"):
        rows = _bound_rows(results, theory, protocol, tex)
        head = ["Data set", "k", "Bound", "τ", "p", "τ (KL)", "p"]
        out.append((f"bound-{protocol}", f"{PROTOCOL_TITLES[protocol]} data sets: PAC-Bayes bound against test "
                    "error, over the methods' seed means.", head, rows, BOUND_NOTE))
    for half in CLAIMS:
        title = "Long-tailed" if half == "tail" else "Noisy-label"
        for covariate in COVARIATES["long-tail" if half == "tail" else "noisy"]:
            head = ["LPG row", "r_s", "p", *([] if tex else ["r_s (last)", "p (last)"]), "Pred.", "Reading"]
            if half == "tail":
                note = CORRELATION_NOTE.format(against="training count", claim="tail classes amplified")
            else:
                note = (CORRELATION_NOTE.format(against=AGAINST[covariate], claim="noisy classes dampened")
                        + NOISY_EXTRA)
            suffix = {TRAIN_COUNT: "count", NOISE_RATE: "noise-true", LABEL_NOISE_RATE: "noise-label"}[covariate]
            out.append((f"amp-{suffix}", f"{title} data sets: LPG's amplification of a class against its "
                        f"{AGAINST[covariate]}.", head, _correlation_rows(results, theory, covariate, tex), note))
        head = (["Row", "Δ vs CE", "CI (95 %)", "p", "Pred.", "Reading"] if tex else
                ["Row", "Classes", "Mean ± 95 % CI", "Δ vs CE", "95 % CI", "p", "Δ vs LPG [CI]", "Pred.", "Reading"])
        out.append((f"intervention-{half}", f"{title} data sets: hand-set perturbations of the "
                    f"{'tail' if half == 'tail' else 'noisy'} classes.", head,
                    _intervention_rows(results, theory, half, tex), _intervention_note(half) + " " + lines[half]))
    return [s for s in out if s[3]]


def render_md(results: Results, theory: Theory) -> str:
    from tabulate import tabulate

    out = [f"# The LPG paper's theory on the {results.layout.suite or 'results'} suite", ""]
    out += [f"- {line}" for line in verdict_lines(results, theory)] + [""]
    sections = _sections(results, theory, False)
    for n, (_, caption, head, rows, note) in enumerate(sections):
        grouped = any(g for g, _ in rows)
        body = [[g, *cells] for g, cells in rows] if grouped else [cells for _, cells in rows]
        out += [f"## {caption}", "", tabulate(body, ["Data set", *head] if grouped else head, tablefmt="github",
                                                  disable_numparse=True), ""]
        if n + 1 == len(sections) or sections[n + 1][4] != note:  # a note shared by tables in a row: once
            out += [note, ""]
    if not theory.bounds:
        out += ["No run has a PAC-Bayes bound.", ""]
    for b in theory.bounds:
        out.append(f"- {results.layout.dataset_name(b.dataset)}: the bound ranks the methods as the test error "
                   f"does: {ranking_sentence(b)}.")
    return "\n".join(out).rstrip() + "\n"


def _tex_head(text: str) -> str:
    math = {"k": "$k$", "τ": "$\\tau$", "τ (KL)": "$\\tau_{\\mathrm{KL}}$", "p": "$p$", "r_s": "$r_s$",
            "r_s (true)": "$r_s$ (true)", "p (true)": "$p$", "r_s (label)": "$r_s$ (label)", "p (label)": "$p$"}
    return math.get(text, latex_escape(text))


def render_tex(results: Results, theory: Theory) -> str:
    suite = results.layout.suite or "results"
    lines = ["% lpg-meta theory: one-column table floats (they fit any wider text); needs \\usepackage{booktabs}."]
    for label, caption, head, rows, note in _sections(results, theory, True):
        width = len(head)
        lines += ["\\begin{table}[t]", "\\centering", "\\scriptsize", "\\setlength{\\tabcolsep}{2pt}",
                  f"\\caption{{{latex_escape(caption)}}}", f"\\label{{tab:{suite}-theory-{label}}}",
                  f"\\begin{{tabular}}{{@{{}}l{'r' * (width - 2)}l@{{}}}}", "\\toprule",
                  " & ".join(_tex_head(h) for h in head) + " \\\\"]
        group = None
        for g, cells in rows:
            if g != group and g:
                lines += ["\\midrule", f"\\multicolumn{{{width}}}{{@{{}}l}}{{\\textit{{{g}}}}} \\\\"]
            elif group is None:
                lines.append("\\midrule")
            group = g
            lines.append(" & ".join(cells) + " \\\\")
        lines += ["\\bottomrule", "\\end{tabular}", "", "\\smallskip",
                  f"\\begin{{minipage}}{{\\linewidth}}\\scriptsize {_tex_prose(note)}\\end{{minipage}}",
                  "\\end{table}", ""]
    return "\n".join(lines)


def _tex_prose(text: str) -> str:
    math = {"‖g̃‖/‖g‖": "$\\|\\tilde g\\|/\\|g\\|$", "g̃ = (1 + a)g": "$\\tilde g = (1 + a)g$", "g̃": "$\\tilde g$",
            "‖g‖": "$\\|g\\|$", "‖w − w0‖²/(2σ²)": "$\\|w - w_0\\|^2/(2\\sigma^2)$", "N(w, σ²I)": "$N(w, \\sigma^2 I)$",
            "N(w0, σ²I)": "$N(w_0, \\sigma^2 I)$", "τ_b": "$\\tau_b$", "r_s": "$r_s$", "a = ±0.5": "$a = \\pm 0.5$",
            "(> 0)": "($>0$)", "(< 0)": "($<0$)", "τ > 0": "$\\tau > 0$", "r_s < 0": "$r_s < 0$"}
    keys = sorted(math, key=len, reverse=True)
    out, i = [], 0
    while i < len(text):
        key = next((k for k in keys if text.startswith(k, i)), None)
        if key:
            out.append(math[key])
            i += len(key)
        else:
            out.append(latex_escape(text[i]))
            i += 1
    return "".join(out)


def write_theory(results: Results, out: str | Path, certificates: Path | None = None) -> list[Path]:
    """Write theory.md, theory.tex and the PDFs of plots/theory_* into ``out``; return the paths.
    ``certificates``: a ``certificates.csv`` of ``lpg-meta certify``, whose section ends theory.md where it exists."""
    from lpg_meta.report.figure_style import style
    from lpg_meta.report.theory_certificates import render_certificates_md
    from lpg_meta.report.theory_plots import plot_amplification, plot_bounds  # matplotlib loads only here

    out = Path(out)
    theory = analyse(results)
    paths = []
    md = render_md(results, theory)
    if certificates is not None and (section := render_certificates_md(results, certificates)):
        md += "\n" + section
    for name, text in ((THEORY_MD, md), (THEORY_TEX, render_tex(results, theory))):
        write_text_atomic(out / name, text)
        paths.append(out / name)
    folder = out / PLOTS_DIR
    with style():
        return paths + plot_bounds(results, theory, folder) + plot_amplification(results, theory, folder)
