"""Render paper tables as Markdown, LaTeX (booktabs, ``table*``) or CSV, and write them.

LaTeX is sized for the ``table*`` float of a two-column paper (text width 6.75 in = 487.8 pt,
as ICML's or CVPR's): footnotesize, 3 pt column padding, the std in scriptsize, many/medium/
few and peak columns as means only (their std is in the CSV and Markdown). The marks are
macros a paper may redefine before ``\\input``: ``\\lpgbest`` (bold), ``\\lpgnsw``
(underlined), ``\\lpgstd`` (the small ``± std``).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from tabulate import tabulate

from lpg_meta.errors import UserError
from lpg_meta.report.layout import FORMATS
from lpg_meta.report.tables import Table, build_tables, decimals
from lpg_meta.report.tidy import Results, load_results
from lpg_meta.results import write_text_atomic

_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "<": "$<$", ">": "$>$", "±": "$\\pm$", "†": "$^\\dagger$", "‡": "$^\\ddagger$",
                  "–": "--", "§": "\\S{}",
                  "ρ": "$\\rho$", "Δ": "$\\Delta$", "α": "$\\alpha$", "χ": "$\\chi$", "²": "$^2$", "≥": "$\\geq$",
                  "≤": "$\\leq$", "τ": "$\\tau$", "β": "$\\beta$", "σ": "$\\sigma$", "×": "$\\times$", "−": "$-$",
                  "|": "$|$"}
MACROS = ("\\providecommand{\\lpgbest}[1]{\\textbf{#1}}",
          "\\providecommand{\\lpgnsw}[1]{\\underline{#1}}",
          "\\providecommand{\\lpgstd}[1]{{\\scriptsize$\\pm$#1}}")


def latex_escape(text: str) -> str:
    """Escape LaTeX specials and map the few non-ASCII signs we emit to commands."""
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)


def _number(table: Table, key: tuple[str, int], latex: bool) -> str:
    cell, col = table.cells[key], table.columns[key[1]]
    if cell.text is not None:
        return latex_escape(cell.text) if latex else cell.text
    dagger = "$^\\dagger$" if latex else "†"
    if cell.mean is None:
        if cell.failed and col.kind == "main":
            return f"failed ({cell.failed}/{cell.total}){dagger}"
        return "--" if latex else "–"
    places = decimals(col.quantity.removeprefix("peak_"))
    text = f"{cell.mean:.{places}f}"
    if cell.std is not None and (col.kind == "main" or not latex):
        text += f"\\lpgstd{{{cell.std:.{places}f}}}" if latex else f" ± {cell.std:.{places}f}"
    if cell.mark:
        text = (f"\\lpg{cell.mark}{{{text}}}" if latex else
                f"**{text}**" if cell.mark == "best" else f"<ins>{text}</ins>")
    if table.show_n and col.kind == "main" and not latex:  # LaTeX: the note lists them (width)
        text += f" (n={cell.n})"
    if cell.failed and col.kind == "main":
        text += f" (failed {cell.failed}/{cell.total}){dagger}"
    if cell.collapsed and col.kind == "main":
        # LaTeX keeps it to a superscript so that a column of collapsed cells still fits the page
        text += (f"$^{{\\ddagger{cell.collapsed}}}$" if latex
                 else f" (collapsed {cell.collapsed}/{cell.total})‡")
    return text


def _header(table: Table, index: int) -> str:
    col = table.columns[index]
    if col.dataset is None:
        return {"rank": "Avg. rank"}.get(col.kind, f"W/T/L {col.header}")
    alone = sum(c.dataset == col.dataset for c in table.columns) == 1
    return table.dataset_names[col.dataset] if alone else f"{table.dataset_names[col.dataset]} {col.header}"


def render_markdown(table: Table) -> str:
    """A GitHub table: bold best, <ins>underlined</ins> not significantly worse; notes below."""
    headers = ["Method"] + [_header(table, i).replace("|", "\\|") for i in range(len(table.columns))]
    rows = []
    for group, methods in table.groups:
        if group:
            rows.append([f"*{group}*"] + [""] * len(table.columns))
        for m in methods:
            rows.append([table.method_names[m].replace("|", "\\|")] +
                        [_number(table, (m, i), False) for i in range(len(table.columns))])
    body = tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)
    notes = "\n".join(f"- {n}" for n in table.notes)
    return f"### {table.caption}\n\n{body}\n\n{notes}\n"


def _dataset_header(name: str) -> str:
    # A qualifier in parentheses goes on a second line, so a long name does not widen its columns.
    head, paren, rest = name.partition(" (")
    if not paren:
        return latex_escape(name)
    return f"\\begin{{tabular}}{{@{{}}c@{{}}}}{latex_escape(head)}\\\\({latex_escape(rest)}\\end{{tabular}}"


def render_latex(table: Table) -> str:
    """A booktabs ``table*``; needs ``\\usepackage{booktabs}`` and nothing else."""
    width = len(table.columns) + 1
    spans: list[tuple[str | None, str, int]] = []  # (dataset or None, top header, width)
    for col in table.columns:
        top = col.dataset if col.dataset is not None else ("W/T/L" if col.kind.startswith("wtl") else "")
        if spans and spans[-1][0] == col.dataset and spans[-1][1] == top and top:
            spans[-1] = (col.dataset, top, spans[-1][2] + 1)
        else:
            spans.append((col.dataset, top, 1))
    tops, rules, start = [], [], 2
    for dataset, top, span in spans:
        text = _dataset_header(table.dataset_names[dataset]) if dataset is not None else latex_escape(top)
        tops.append(f"\\multicolumn{{{span}}}{{c}}{{{text}}}" if span > 1 or dataset else text)
        if top:
            rules.append(f"\\cmidrule(lr){{{start}-{start + span - 1}}}")
        start += span
    subs = [latex_escape(c.header) for c in table.columns]
    lines = ["% lpg-meta: a table* sized for a two-column paper (6.75 in text width); needs \\usepackage{booktabs}.",
             "% Marks are macros: redefine \\lpgbest, \\lpgnsw or \\lpgstd before \\input to restyle them.",
             *MACROS, "\\begin{table*}[t]", "\\centering", "\\footnotesize", "\\setlength{\\tabcolsep}{3pt}",
             f"\\caption{{{latex_escape(table.caption)}}}", f"\\label{{{table.label}}}",
             f"\\begin{{tabular}}{{@{{}}l{'r' * len(table.columns)}@{{}}}}", "\\toprule",
             " & ".join(["", *tops]) + " \\\\", "".join(rules), " & ".join(["Method", *subs]) + " \\\\"]
    for group, methods in table.groups:
        lines.append("\\midrule")
        if group:
            lines.append(f"\\multicolumn{{{width}}}{{@{{}}l}}{{\\textit{{{latex_escape(group)}}}}} \\\\")
        for m in methods:
            cells = [_number(table, (m, i), True) for i in range(len(table.columns))]
            lines.append(" & ".join([latex_escape(table.method_names[m]), *cells]) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", "", "\\smallskip", "\\begin{minipage}{\\linewidth}\\scriptsize"]
    lines += [latex_escape(n) + "\\par" for n in table.notes]
    lines += ["\\end{minipage}", "\\end{table*}"]
    return "\n".join(lines) + "\n"


CSV_FIELDS = ("table", "method", "method_display", "group", "dataset", "dataset_display", "column", "quantity",
              "unit", "mean", "std", "n", "failed", "mark", "text", "source", "collapsed")


def _csv_rows(table: Table) -> list[list[Any]]:
    rows = []
    for group, methods in table.groups:
        for m in methods:
            for i, col in enumerate(table.columns):
                c = table.cells[(m, i)]
                num = ["" if v is None else repr(float(v)) for v in (c.mean, c.std)]
                unit = "" if col.quantity.endswith("nll") or col.kind.startswith(("rank", "wtl")) else "%"
                rows.append([table.spec.name, m, table.method_names[m], group, col.dataset or "",
                             table.dataset_names.get(col.dataset, "") if col.dataset else "", col.kind,
                             col.quantity, unit, *num, c.n, c.failed, c.mark, c.text or "", c.source or "",
                             c.collapsed])
    return rows


def render_csv(tables: list[Table]) -> str:
    """One line per (table, method, column), full precision, in the shown units."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for table in tables:
        writer.writerows(_csv_rows(table))
    return out.getvalue()


def render(tables: list[Table], fmt: str) -> str:
    """All tables in one format: Markdown and LaTeX one after another, CSV as one file."""
    if fmt not in FORMATS:
        raise UserError(f"unknown format '{fmt}'; choose one of {', '.join(FORMATS)}.")
    if fmt == "csv":
        return render_csv(tables)
    one = render_markdown if fmt == "md" else render_latex
    return "\n".join(one(t) for t in tables)


def leaderboard(source: str | Path, fmt: str = "md", metric: str | None = None, split: str = "test",
                spec: dict[str, Any] | None = None) -> str:
    """The rendered tables of a results folder or ``runs.csv``."""
    return render(build_tables(load_results(source, spec), metric, split), fmt)


def write_leaderboards(results: Results | str | Path, out: str | Path | None = None, metric: str | None = None,
                       split: str = "test") -> list[Path]:
    """Write ``leaderboard.md``, ``.csv``, ``.tex`` (all tables) and ``leaderboard_<table>.tex`` each.

    ``results`` may be a results folder (then ``out`` defaults to it) or a ``runs.csv``.
    """
    if not isinstance(results, Results):
        source = Path(results)
        out = out if out is not None else (source.parent if source.is_file() else source)
        results = load_results(source)
    if out is None:
        raise ValueError("write_leaderboards needs 'out' when given loaded results")
    out = Path(out)
    tables = build_tables(results, metric, split)
    written = {out / "leaderboard.md": render(tables, "md"), out / "leaderboard.csv": render(tables, "csv"),
               out / "leaderboard.tex": render(tables, "latex")}
    for table in tables:
        written[out / f"leaderboard_{table.spec.name}.tex"] = render_latex(table)
    for path, text in written.items():
        write_text_atomic(path, text)
    return list(written)
