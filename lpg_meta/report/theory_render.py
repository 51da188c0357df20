"""``lpg-meta theory``: theory.md, theory.tex and plots/theory_*.png from the tidy extract (``report.theory``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib import colormaps

from lpg_meta.report.plots import PLOTS_DIR, _figure, _safe, _save
from lpg_meta.report.render import latex_escape
from lpg_meta.report.stats import ALPHA, Paired, format_p, t_half_width
from lpg_meta.report.theory import (
    COVARIATES,
    LABEL_NOISE_RATE,
    NOISE_RATE,
    TRAIN_COUNT,
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
_PREDICTED = {"tail": "tail classes amplified (ρ < 0 with the training count)",
              "noisy": "noisy classes dampened (ρ < 0 with the noise rate)"}


@dataclass(frozen=True)
class CorrelationRow:
    data: ClassData
    mean: Correlation  # amplification averaged over epochs
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
                rows.append(CorrelationRow(data, spearman_by_class(data.x, data.mean_amp),
                                           spearman_by_class(data.x, data.last_amp), applies))
    return Theory(bound_rows(results), rows, interventions(results))


def _f(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:+.{digits}f}"


def _p(value: float | None) -> str:
    return format_p(value)  # four significant digits: the side of alpha shows


def _diff(c: Paired | None) -> str:
    if c is None or c.mean_diff is None:
        return "–"
    ci = f" [{100 * c.ci_low:+.1f}, {100 * c.ci_high:+.1f}]" if c.ci_low is not None else ""
    return f"{100 * c.mean_diff:+.1f}{ci} (p {_p(c.p_value)})"


def _mean_ci(values: dict[int, float]) -> str:
    v = np.array(list(values.values()), dtype=float)
    if not len(v):
        return "–"
    ci = f" ± {100 * t_half_width(v):.1f}" if len(v) > 1 else ""
    return f"{100 * v.mean():.1f}{ci}"


def verdict_lines(results: Results, theory: Theory) -> list[str]:
    """One line per half of the conjecture."""
    lines = []
    for half, claim in (("tail", "amplifying a class's gradient enhances its learning (tail classes)"),
                        ("noisy", "dampening a class's gradient suppresses overfitting (noisy classes)")):
        corr = [correlation_verdict(r.mean) for r in theory.correlations if r.half == half and r.applies]
        acts = [i.verdict for i in theory.interventions if i.target == half]
        if not corr and not acts:
            lines.append(f"**{half} half** ({claim}): no data.")
            continue
        count = {v: (corr.count(v), acts.count(v)) for v in ("supports", "contradicts")}
        lines.append(
            f"**{half} half** ({claim}): correlation {count['supports'][0]} for, {count['contradicts'][0]} against "
            f"of {len(corr)} (row, LPG method, covariate) readings; intervention {count['supports'][1]} for, "
            f"{count['contradicts'][1]} against of {len(acts)} rows (α = {ALPHA}). Verdict: correlational "
            f"{overall(corr)}; causal {overall(acts)}.")
    return lines


def _bound_table(results: Results, theory: Theory) -> tuple[list[str], list[list[str]]]:
    head = ["Data set", "Runs", "Bound (range)", "Test error (range)", "τ (runs)", "p", "τ (method means)", "p",
            "τ (KL, runs)", "p", "Same ranking"]
    rows = []
    for b in theory.bounds:
        bounds, errors = [r[2] for r in b.runs], [r[3] for r in b.runs]
        rows.append([results.layout.dataset_name(b.dataset), str(len(b.runs)),
                     f"{min(bounds):.3f}–{max(bounds):.3f}", f"{min(errors):.3f}–{max(errors):.3f}",
                     _f(b.tau), _p(b.p_value), _f(b.tau_methods), _p(b.p_methods), _f(b.tau_kl), _p(b.p_kl),
                     ranking_sentence(b).split(":")[0]])
    return head, rows


def _correlation_table(results: Results, theory: Theory) -> tuple[list[str], list[list[str]]]:
    head = ["Data set", "LPG row", "Against", "Classes × seeds", "ρ (epoch mean)", "p", "ρ (last epoch)", "p",
            "Reading"]
    rows = []
    for r in theory.correlations:
        against = AGAINST[r.data.covariate]
        reading = correlation_verdict(r.mean) if r.applies else "not a test: one nominal rate for every class"
        rows.append([results.layout.dataset_name(r.data.dataset), results.layout.method_name(r.data.method), against,
                     f"{r.mean.classes} × {r.mean.seeds}", _f(r.mean.rho), _p(r.mean.p_value), _f(r.last.rho),
                     _p(r.last.p_value), reading])
    return head, rows


def _intervention_table(results: Results, theory: Theory) -> tuple[list[str], list[list[str]]]:
    head = ["Data set", "Row", "Classes", "Metric", "Mean ± 95 % CI", "Δ vs CE [CI]", "Δ vs LPG [CI]", "Reading"]
    rows = []
    for i in theory.interventions:
        metric = "few-shot acc." if i.metric == "few_shot" else "peak − last acc."
        rows.append([results.layout.dataset_name(i.dataset), i.method,  # the row: several share a method
                     f"{i.action} {i.target}: {', '.join(map(str, i.classes))}", metric, _mean_ci(i.values),
                     _diff(i.against.get("ce")), _diff(i.against.get("lpg")), i.verdict])
    return head, rows


DEFINITIONS = (
    "Bound: the PAC-Bayes bound on the 0-1 test error of each run (result.json's pac_bayes); τ: Kendall's τ_b "
    "between bound and test error, over every (method, seed) run of the row and over the methods' seed means; "
    "τ (KL): between the KL term ||w - w0||² / (2 sigma²) and the test error over the runs, a ranking that remains "
    "where the bound is vacuous (1). "
    "Amplification: mean over a class's training samples of ||g~|| / ||g|| (g the logit gradient of the base "
    "loss, g~ the perturbed one), averaged over all epochs (and the last epoch's). ρ: Spearman's rank "
    "correlation over the pooled (class, seed) pairs; p: permutation test that reassigns the classes' counts or "
    "noise rates among the classes, the same way in every seed (exact up to 8 classes, else 20,000 seeded "
    "draws). Noise rate (true class): the share of the class's training samples whose label was flipped; noise "
    "rate (label): the share of the samples carrying the label whose true class is another (the perturbation is "
    "indexed by the label). Sym and pair noise give every class one nominal rate: there ρ is not a test and "
    "stays out of the verdict. The conjecture predicts ρ < 0 for both halves: tail classes amplified, noisy "
    "classes dampened. "
    "Intervention: hand-set g~ = (1 + a) g on the picked classes (lpg_fixed), a = ±0.5; Δ in percentage "
    "points, paired by seed (two-sided paired t-test, 95 % t interval). Predicted: amplifying the tail raises "
    "few-shot accuracy, dampening it lowers it; dampening the noisy classes narrows the peak-to-last gap, "
    "amplifying them widens it. 'supports' / 'contradicts': significant at α = 0.05 in / against the predicted "
    "direction.")


def render_md(results: Results, theory: Theory) -> str:
    from tabulate import tabulate

    out = [f"# The LPG paper's theory on the {results.layout.suite or 'results'} suite", "", DEFINITIONS, ""]
    out += [f"- {line}" for line in verdict_lines(results, theory)] + [""]
    for title, (head, rows), empty in (
            ("PAC-Bayes bound against test error", _bound_table(results, theory), "No run has a PAC-Bayes bound."),
            ("Amplification against training count and noise rate", _correlation_table(results, theory),
             "No LPG run records its amplification on a long-tail or noisy row."),
            ("Intervention: hand-set class perturbations", _intervention_table(results, theory),
             "No lpg_fixed row.")):
        out += [f"## {title}", ""]
        out += [tabulate(rows, head, tablefmt="github", disable_numparse=True) if rows else empty, ""]
    for b in theory.bounds:
        out.append(f"- {results.layout.dataset_name(b.dataset)}: the bound ranks the methods as the test error "
                   f"does: {ranking_sentence(b)}.")
    return "\n".join(out).rstrip() + "\n"


def _tex_table(head: list[str], rows: list[list[str]], caption: str, spec: str) -> list[str]:
    return ["\\begin{table*}[t]", "\\centering", "\\scriptsize", "\\setlength{\\tabcolsep}{3pt}",
            f"\\caption{{{latex_escape(caption)}}}", f"\\begin{{tabular}}{{@{{}}{spec}@{{}}}}", "\\toprule",
            " & ".join(latex_escape(h) for h in head) + " \\\\", "\\midrule",
            *(" & ".join(latex_escape(c) for c in row) + " \\\\" for row in rows),
            "\\bottomrule", "\\end{tabular}", "\\end{table*}", ""]


def render_tex(results: Results, theory: Theory) -> str:
    lines = ["% lpg-meta theory: needs \\usepackage{booktabs}."]
    # p{} columns wrap the long cells, so each table fits a two-column paper's text width.
    for caption, (head, rows), spec in (
            ("PAC-Bayes bound against test error.", _bound_table(results, theory),
             "p{2.2cm}rp{1.3cm}p{1.3cm}rrp{1.2cm}rp{1.1cm}rl"),
            ("Amplification against training count and noise rate.", _correlation_table(results, theory),
             "p{2.6cm}p{1.8cm}p{1.4cm}p{1.1cm}rrrrp{2.6cm}"),
            ("Intervention: hand-set class perturbations.", _intervention_table(results, theory),
             "p{2.4cm}p{2cm}p{2cm}p{1.3cm}p{1.2cm}p{2.1cm}p{2.1cm}p{1.4cm}")):
        if rows:
            lines += _tex_table(head, rows, caption, spec)
    lines += [f"\\noindent {latex_escape(results.layout.dataset_name(b.dataset))}: the bound ranks the methods as the "
              f"test error does: {latex_escape(ranking_sentence(b))}.\\par" for b in theory.bounds]
    lines += [f"\\noindent {latex_escape(line.replace('**', ''))}\\par" for line in verdict_lines(results, theory)]
    lines.append(f"\\noindent {{\\scriptsize {latex_escape(DEFINITIONS)}}}\\par")
    return "\n".join(lines) + "\n"


def _colours(names: list[str]) -> dict[str, object]:
    cmap = colormaps["tab20"]
    return {n: cmap(i % 20) for i, n in enumerate(names)}


def plot_bounds(results: Results, theory: Theory, folder: Path) -> list[Path]:
    paths = []
    for b in theory.bounds:
        fig, ax = _figure(6.0, 4.5)
        methods = list(dict.fromkeys(r[0] for r in b.runs))
        colour = _colours(methods)
        for m in methods:
            pts = np.array([(r[3], r[2]) for r in b.runs if r[0] == m])
            ax.scatter(pts[:, 0], pts[:, 1], color=colour[m], label=results.layout.method_name(m), s=18)
        ax.set(xlabel="test error", ylabel="PAC-Bayes bound",
               title=f"{results.layout.dataset_name(b.dataset)}: τ = {_f(b.tau)} (p {_p(b.p_value)})")
        ax.legend(fontsize=6, ncol=2)
        paths.append(_save(fig, folder / f"theory_bound_{_safe(b.dataset)}.png"))
    return paths


def plot_amplification(results: Results, theory: Theory, folder: Path) -> list[Path]:
    paths = []
    for ds, covariate in dict.fromkeys((r.data.dataset, r.data.covariate) for r in theory.correlations):
        rows = [r for r in theory.correlations if (r.data.dataset, r.data.covariate) == (ds, covariate)]
        fig, ax = _figure(6.0, 4.5)
        colour = _colours([r.data.method for r in rows])
        for r in rows:
            label = f"{results.layout.method_name(r.data.method)} (ρ = {_f(r.mean.rho)}, p {_p(r.mean.p_value)})"
            ax.scatter(r.data.x.ravel(), r.data.mean_amp.ravel(), color=colour[r.data.method], s=14, label=label)
        ax.axhline(1.0, color="grey", lw=0.8, ls="--")
        tail = rows[0].half == "tail"
        if tail:
            ax.set_xscale("log")
        ax.set(xlabel=f"{AGAINST[covariate]} of the class" + ("" if tail else ", realised"),
               ylabel="amplification ||g~||/||g|| (mean over epochs)",
               title=f"{results.layout.dataset_name(ds)}: one point per class and seed")
        ax.legend(fontsize=6)
        name = {TRAIN_COUNT: "count", NOISE_RATE: "noise", LABEL_NOISE_RATE: "label_noise"}[covariate]
        paths.append(_save(fig, folder / f"theory_amp_{name}_{_safe(ds)}.png"))
    return paths


def write_theory(results: Results, out: str | Path) -> list[Path]:
    """Write theory.md, theory.tex and plots/theory_*.png (with PDFs) into ``out``; return the paths."""
    out = Path(out)
    theory = analyse(results)
    paths = []
    for name, text in ((THEORY_MD, render_md(results, theory)), (THEORY_TEX, render_tex(results, theory))):
        write_text_atomic(out / name, text)
        paths.append(out / name)
    folder = out / PLOTS_DIR
    return paths + plot_bounds(results, theory, folder) + plot_amplification(results, theory, folder)
