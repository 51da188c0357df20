"""``claims.md``, ``claims.tex``, ``claims.csv`` and ``claims_summary.csv`` of ``report.claims``."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from lpg_meta.collapse import COLLAPSE_DROP
from lpg_meta.report.across import rows_needed
from lpg_meta.report.claims import ALL_ROWS, Claim, Summary, display_factor, suite_friedman, summarize
from lpg_meta.report.fit import stacked
from lpg_meta.report.layout import METRIC_INFO
from lpg_meta.report.render import latex_escape, stack_cell
from lpg_meta.report.stats import Friedman, format_p
from lpg_meta.report.tidy import COLLAPSED, TIMING, Results
from lpg_meta.results import write_text_atomic

CLAIMS_FIELDS = ("claim", "protocol", "dataset", "method", "baseline", "metric", "n", "seeds", "n_method",
                 "n_baseline", "mean_diff", "ci_low", "ci_high", "sd_diff", "p_value", "p_adjusted", "mde", "test",
                 "same_as", "verdict")
SUMMARY_FIELDS = ("protocol", "claim", "text", "metric", "n_datasets", "n_comparisons", "test", "statistic",
                  "p_value", "mean_diff", "rope", "alpha", "p_better", "p_rope", "p_worse", "verdict", "rows_needed",
                  "comparisons_supported", "comparisons_not_supported", "comparisons_contradicted")
HEADERS = ["Data set", "Method", "Baseline", "n", "Δ", "95 % CI", "p", "p (Holm)", "MDE", "Verdict"]


def _num(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def render_claims_csv(claims: list[Claim]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CLAIMS_FIELDS)
    for c in claims:
        r = c.result
        writer.writerow([c.claim, c.protocol, c.dataset, c.method, c.baseline, c.metric, r.n,
                         " ".join(map(str, r.seeds)), *c.cell_n, _num(r.mean_diff), _num(r.ci_low), _num(r.ci_high),
                         _num(r.sd), _num(r.p_value), _num(c.p_adjusted), _num(c.mde), r.test, c.same_as or "",
                         c.verdict])
    return out.getvalue()


def _tally(summary: Summary) -> dict[str, int]:
    return {v: sum(c.verdict == v for c in summary.counted) for v in ("supported", "not supported", "contradicted")}


def render_summary_csv(summaries: list[Summary]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(SUMMARY_FIELDS)
    for s in summaries:
        a, tally = s.across, _tally(s)
        writer.writerow([s.protocol, s.spec.name, s.spec.text, s.spec.metric, a.n, len(s.counted), a.test,
                         _num(a.statistic), _num(a.p_value), _num(a.mean), s.spec.rope, s.spec.alpha,
                         _num(a.p_better), _num(a.p_rope), _num(a.p_worse), a.verdict, rows_needed(s.spec.alpha),
                         tally["supported"], tally["not supported"], tally["contradicted"]])
    return out.getvalue()


def _points(value: float | None, metric: str) -> str:
    return "–" if value is None else f"{display_factor(metric) * value:+.2f}"


def _prob(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _n(results: Results, c: Claim) -> str:
    """n, starred where the comparison uses fewer seeds than a compared cell has (common seeds only)."""
    return f"{c.result.n}*" if c.result.n < max(c.cell_n) else str(c.result.n)


def _rows(results: Results, claims: list[Claim]) -> list[list[str]]:
    layout = results.layout
    rows = []
    for c in claims:
        name = results.layout.method_name
        base = name(c.baseline) + (f" (= {name(c.same_as)})" if c.same_as else "")
        ci = (f"[{_points(c.result.ci_low, c.metric)}, {_points(c.result.ci_high, c.metric)}]"
              if c.result.ci_low is not None else "–")
        mde = "–" if c.mde is None else f"{display_factor(c.metric) * c.mde:.2f}"
        rows.append([layout.dataset_name(c.dataset), name(c.method), base, _n(results, c),
                     _points(c.result.mean_diff, c.metric), ci, format_p(c.result.p_value, c.alpha),
                     format_p(c.p_adjusted, c.alpha), mde, c.verdict])
    return rows


def _definition(summaries: list[Summary], split: str) -> str:
    specs = list(dict.fromkeys(s.spec for s in summaries))
    metrics = sorted({s.metric for s in specs})
    alphas = sorted({s.alpha for s in specs})
    ropes = sorted({s.rope for s in specs})
    unit = "" if metrics == ["nll"] else " (percentage points)"
    need = ", ".join(str(rows_needed(a)) for a in alphas)
    return (f"Δ: mean over the seeds both cells have of method minus baseline, last-epoch {split} "
            f"{', '.join(METRIC_INFO[m].name for m in metrics)}{unit}; n* marks a comparison on fewer seeds "
            "than one of its cells has (common seeds only: Δ is then not the difference of the table's means). "
            "95 % CI: t interval of that mean; p: two-sided paired t-test; p (Holm): adjusted over the family "
            "(one protocol and one claim), a baseline whose runs repeat another's bit for bit (\"= X\") counted "
            f"once. Verdict: supported when Δ favours the method and p (Holm) < α = "
            f"{'/'.join(f'{a:g}' for a in alphas)}, contradicted when it favours the baseline, else not "
            "supported; under the null a family carries any wrong verdict with probability at most α. MDE: the "
            "difference the comparison detects with 80 % power at its n and paired sd, at the family's strictest "
            "Holm level α/m. A protocol's claim is tested over its data set rows (the mean Δ of each row's "
            "comparisons): Wilcoxon signed-rank test, exact two-sided p, which gives the verdict (it needs "
            f"at least {need} rows to reach α, so fewer rows cannot decide the claim), and the Bayesian "
            f"signed-rank test (Benavoli et al. 2017) with a region of practical equivalence of "
            f"±{'/'.join(f'{r:g}' for r in ropes)} points: P(better), P(equivalent), P(worse).")


SUMMARY_HEADERS = ["Protocol", "Claim", "Rows", "Comparisons", "Mean Δ", "Signed-rank p", "P(better)",
                   "P(equiv.)", "P(worse)", "Verdict", "Comparisons S/N/C"]
TEX_HEADERS = ["Protocol", "Claim", "Rows", "Cmp.", "Mean Δ", "p", "P(>)", "P(=)", "P(<)", "Verdict", "S/N/C"]


def _summary_rows(summaries: list[Summary]) -> list[list[str]]:
    rows = []
    for s in summaries:
        a, tally = s.across, _tally(s)
        rows.append([s.protocol, s.spec.text, str(a.n), str(len(s.counted)),
                     "–" if a.mean is None else f"{a.mean:+.2f}", format_p(a.p_value, s.spec.alpha),
                     _prob(a.p_better), _prob(a.p_rope), _prob(a.p_worse), a.verdict,
                     f"{tally['supported']}/{tally['not supported']}/{tally['contradicted']}"])
    return rows


PAIR_HEADERS = ["Method", "Baseline", "Rows", "Mean Δ", "Signed-rank p", "p (Holm)", "P(better)", "P(equiv.)",
                "P(worse)", "Verdict"]


def _pair_tables(results: Results, summaries: list[Summary]) -> list[str]:
    """Per baseline, the claim over the rows where the protocol test can decide (all rows, usually)."""
    from tabulate import tabulate

    out = []
    name = results.layout.method_name
    for s in summaries:
        if s.across.p_value is None:
            continue
        rows = [[name(m), name(b), str(t.n), "–" if t.mean is None else f"{t.mean:+.2f}",
                 format_p(t.p_value, s.spec.alpha), format_p(q, s.spec.alpha), _prob(t.p_better), _prob(t.p_rope),
                 _prob(t.p_worse), t.verdict] for m, b, t, q in s.by_pair()]
        where = "all rows" if s.protocol == ALL_ROWS else f"the {s.protocol} rows"
        out += [f"### {s.spec.text}, per baseline, over {where}", "",
                "Each pair tested over the rows it shares (signed-rank test; Holm over the pairs; Bayesian "
                f"signed-rank test with ROPE ±{s.spec.rope:g}).", "",
                tabulate(rows, PAIR_HEADERS, tablefmt="github", disable_numparse=True), ""]
    return out


def row_minutes(results: Results, ds: str) -> float | None:
    """The measured training time of a data set row's seeded runs, in worker-minutes (None: not recorded)."""
    seconds = [v for (d, _m, split, metric), by_seed in results.values.items()
               if d == ds and split == TIMING and metric == "seconds" for v in by_seed.values()]
    return sum(seconds) / 60.0 if seconds else None


def _what_it_takes(results: Results, summaries: list[Summary]) -> list[str]:
    lines = []
    for s in summaries:
        need = rows_needed(s.spec.alpha)
        if s.across.n < need:
            more = need - s.across.n
            costs = [c for c in (row_minutes(results, ds) for ds in s.datasets) if c is not None]
            cost = (f" At this suite's methods and seeds a row of this protocol took {sum(costs) / len(costs):.0f} "
                    f"worker-minutes of seeded runs (mean of its {len(costs)} rows, tuning trials not counted), so "
                    f"about {more * sum(costs) / len(costs):.0f} more." if costs else "")
            lines.append(f"{s.spec.text} on {s.protocol} rows: {s.across.verdict}; the signed-rank test needs "
                         f"{need} rows to reach α = {s.spec.alpha:g} (every row agreeing), {more} "
                         f"more data set row{'s' * (more != 1)} of this protocol. More seeds do not "
                         f"help: the rows are the sample.{cost}")
    return lines


def _repeats(results: Results, claims: list[Claim]) -> str:
    seen = sorted({(c.dataset, c.baseline, c.same_as) for c in claims if c.same_as})
    if not seen:
        return "Identical runs: no compared cell repeats another bit for bit."
    name = results.layout.method_name
    listed = "; ".join(f"{name(b)} = {name(a)} on {ds}"
                       for ds, b, a in seen)
    return f"Identical runs (every seed's metrics equal bit for bit; each counted once): {listed}."


def _friedman_line(results: Results, found: tuple[list[str], list[str], Friedman] | None) -> str:
    if found is None:
        return "Friedman test: fewer than 2 data sets or methods with a value on every data set."
    datasets, methods, f = found
    ranked = sorted(zip(f.average_ranks, methods, strict=True))
    listed = ", ".join(f"{results.layout.method_name(m)} {r:.2f}" for r, m in ranked)
    return (f"Friedman test over all {f.n_datasets} data set rows and the {f.n_methods} methods run on every "
            f"one: χ²_F = {f.chi2:.2f} (p = {format_p(f.p_chi2)}), F_F = {f.f_stat:.2f} (p = {format_p(f.p_f)}); "
            f"Nemenyi critical difference {f.critical_difference:.2f} at α = {f.alpha}. Average ranks: {listed}.")


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


def _comparisons(summaries: list[Summary]) -> list[Claim]:
    return [c for s in summaries if s.protocol != ALL_ROWS for c in s.comparisons]


def render_claims_md(results: Results, summaries: list[Summary], split: str) -> str:
    from tabulate import tabulate

    claims = _comparisons(summaries)
    metric = summaries[0].spec.metric if summaries else "balanced_accuracy"
    out = [f"# Claims on the {results.layout.suite or 'results'} suite", "", _definition(summaries, split), "",
           tabulate(_summary_rows(summaries), SUMMARY_HEADERS, tablefmt="github", disable_numparse=True), ""]
    out += [f"- {line}" for line in _what_it_takes(results, summaries)]
    out += ["", *_pair_tables(results, summaries), _repeats(results, claims), "", _collapse_line(results, claims), "",
            _friedman_line(results, suite_friedman(results, metric, split)), ""]
    for s in summaries:
        if s.protocol != ALL_ROWS and s.comparisons:
            out += [f"## {s.protocol}: {s.spec.text}", "",
                    tabulate(_rows(results, s.comparisons), HEADERS, tablefmt="github", disable_numparse=True), ""]
    return "\n".join(out)


def _tex_number(text: str) -> str:
    """A signed number in math mode, so its minus is a minus sign, not a hyphen."""
    return f"${text}$" if text[:1] in "+-" else latex_escape(text)


def _matrix_cell(c: Claim | None) -> str:
    """Δ in points and the Holm-adjusted p; marked where the verdict is not 'not supported'."""
    if c is None:
        return "--"
    r = c.result
    text = _tex_number(_points(r.mean_diff, c.metric))
    text += latex_escape(f" ({format_p(c.p_adjusted)})" + ("*" if r.n < max(c.cell_n) else "")
                         + (" (=)" if c.same_as else ""))
    marked = {"supported": f"\\lpgsupported{{{text}}}", "contradicted": f"\\lpgcontradicted{{{text}}}"}
    return marked.get(c.verdict, text)


def _column_n(comparisons: list[Claim]) -> str:
    ns = sorted({c.result.n for c in comparisons})
    return f"n = {ns[0]}" if len(ns) == 1 else f"n = {ns[0]}-{ns[-1]}"


def _summary_tex(results: Results, summaries: list[Summary], split: str) -> list[str]:
    rows = _summary_rows(summaries)
    suite = results.layout.suite or "results"
    metric = summaries[0].spec.metric if summaries else "balanced_accuracy"
    friedman_text = latex_escape(_friedman_line(results, suite_friedman(results, metric, split)))
    friedman_text = friedman_text.replace("$\\chi$$^2$\\_F", "$\\chi^2_F$").replace("F\\_F", "$F_F$")
    headers = [stack_cell(h.split(" ", 1)) if h in ("Mean Δ",) else latex_escape(h) for h in TEX_HEADERS]
    body = [" & ".join(_tex_number(x) if i == 4 else latex_escape(x) for i, x in enumerate(row)) + " \\\\"
            for row in rows]
    return ["\\begin{table*}[t]", "\\centering", "\\scriptsize", "\\setlength{\\tabcolsep}{3pt}",
            "\\caption{Claims tested over data set rows. Cmp.: comparisons counted; p: Wilcoxon signed-rank test "
            "(gives the verdict); P($>$), P(=), P($<$): Bayesian signed-rank test, method better, equivalent, worse; "
            "S/N/C: comparisons supported / not supported / contradicted.}",
            f"\\label{{tab:{suite}-claims-summary}}",
            "\\begin{tabular}{@{}lp{2.6cm}rrrrrrrp{2.1cm}r@{}}",  # the claim and the verdict wrap
            "\\toprule", " & ".join(headers) + " \\\\", "\\midrule", *body,
            "\\bottomrule", "\\end{tabular}", "", "\\smallskip",
            "\\begin{minipage}{\\linewidth}\\scriptsize", friedman_text + "\\par", "\\end{minipage}",
            "\\end{table*}", ""]


def render_claims_tex(results: Results, summaries: list[Summary], split: str) -> str:
    """The summary ``table*``, then one per protocol and claim: a row per comparison, a column per data set.

    Laid out for both a two-column paper (``table*``, 6.75 in) and a one-column 5.5 in page: each
    cell is Δ and its Holm-adjusted p (the interval is in claims.md and claims.csv), data set names
    are stacked over two lines, and every sentence sits inside its float.
    """
    layout = results.layout
    lines = ["% lpg-meta claims: table* floats for a two-column (6.75 in) or one-column (5.5 in) paper; needs "
             "\\usepackage{booktabs}.",
             "% Verdict marks are macros: redefine \\lpgsupported or \\lpgcontradicted before \\input to restyle.",
             "\\providecommand{\\lpgsupported}[1]{\\textbf{#1}$^{\\uparrow}$}",
             "\\providecommand{\\lpgcontradicted}[1]{\\textit{#1}$^{\\downarrow}$}",
             *_summary_tex(results, summaries, split)]
    definition = latex_escape(_definition(summaries, split))
    for s in summaries:
        if s.protocol == ALL_ROWS or not s.comparisons:
            continue
        datasets = list(dict.fromkeys(c.dataset for c in s.comparisons))
        pairs = list(dict.fromkeys((c.method, c.baseline) for c in s.comparisons))
        cell = {(c.method, c.baseline, c.dataset): c for c in s.comparisons}
        caption = (f"{s.spec.text} on the {s.protocol} data sets: Δ in points of the row's method minus its "
                   f"baseline, and (p) its Holm-adjusted p-value. Bold, ↑: supported; italic, ↓: contradicted "
                   f"(Holm within the table). *: common seeds only; (=): baseline repeats another bit for bit.")
        name = results.layout.method_name
        one_method = len({m for m, _ in pairs}) == 1  # then a row names its baseline only
        first = f"{name(pairs[0][0])} vs" if one_method else "Comparison"
        headers = [stack_cell([*stacked(layout.dataset_name(d), True),
                               _column_n([c for c in s.comparisons if c.dataset == d])]) for d in datasets]
        lines += ["\\begin{table*}[t]", "\\centering", "\\scriptsize", "\\setlength{\\tabcolsep}{3pt}",
                  f"\\caption{{{latex_escape(caption)}}}",
                  f"\\label{{tab:{layout.suite or 'results'}-claims-{s.spec.name}-{s.protocol}}}",
                  f"\\begin{{tabular}}{{@{{}}l{'r' * len(datasets)}@{{}}}}", "\\toprule",
                  " & ".join([latex_escape(first), *headers]) + " \\\\", "\\midrule"]
        for m, b in pairs:
            label = name(b) if one_method else f"{name(m)} vs {name(b)}"
            lines.append(" & ".join([latex_escape(label), *(_matrix_cell(cell.get((m, b, d))) for d in datasets)])
                         + " \\\\")
        verdict = latex_escape(f"Over the {s.across.n} rows: {s.across.verdict} (signed-rank p "
                               f"{format_p(s.across.p_value, s.spec.alpha)}).")
        lines += ["\\bottomrule", "\\end{tabular}", "", "\\smallskip",
                  "\\begin{minipage}{\\linewidth}\\scriptsize",
                  definition + "\\par", verdict + "\\par", "\\end{minipage}", "\\end{table*}", ""]
        definition = "See the first claims table for the definitions."
    return "\n".join(lines) + "\n"


def write_claims(results: Results, out: str | Path, metric: str | None = None, split: str = "test") -> list[Path]:
    """Write ``claims.md``, ``claims.tex``, ``claims.csv`` and ``claims_summary.csv`` into ``out``."""
    out = Path(out)
    summaries = summarize(results, metric, split)
    texts = {out / "claims.md": render_claims_md(results, summaries, split),
             out / "claims.tex": render_claims_tex(results, summaries, split),
             out / "claims.csv": render_claims_csv(_comparisons(summaries)),
             out / "claims_summary.csv": render_summary_csv(summaries)}
    for path, text in texts.items():
        write_text_atomic(path, text)
    return list(texts)

