"""Render paper tables as Markdown, LaTeX (booktabs, ``table*``) or CSV, and write them.

LaTeX is sized for the ``table*`` float of a two-column paper (text width 6.75 in = 487.8 pt,
as ICML's or CVPR's): footnotesize, 3 pt column padding, the std in scriptsize, many/medium/
few and peak columns as means only (their std is in the CSV and Markdown). The marks are
macros a paper may redefine before ``\\input``: ``\\lpgbetter`` (bold: significantly better
than the table's reference), ``\\lpgworse`` (italic: significantly worse), ``\\lpgstd`` (the
small ``± std``); a superscript = flags runs identical to another row's.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from tabulate import tabulate

from lpg_meta.errors import UserError
from lpg_meta.report.fit import (
    SAFETY,
    TARGETS,
    Target,
    compact_groups,
    latex_cell_width,
    lines_width,
    stacked,
    text_width,
)
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
                  "|": "$|$", "↑": "$\\uparrow$", "↓": "$\\downarrow$"}
MACROS = ("\\providecommand{\\lpgbetter}[1]{\\textbf{#1}}",
          "\\providecommand{\\lpgworse}[1]{\\textit{#1}}",
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
                f"**{text}**" if cell.mark == "better" else f"*{text}*")
    if cell.same_as and col.kind == "main":
        text += "$^{=}$" if latex else " (=)"
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
    """A GitHub table: **bold** significantly better than the reference, *italic* worse; notes below."""
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


def stack_cell(lines: list[str], align: str = "c") -> str:
    """Lines one below the other in one table cell (a nested tabular), escaped."""
    if len(lines) == 1:
        return latex_escape(lines[0])
    return f"\\begin{{tabular}}{{@{{}}{align}@{{}}}}" + "\\\\".join(map(latex_escape, lines)) + "\\end{tabular}"


def _block_columns(table: Table, target: Target, rows: list[str]) -> list[list[int]]:
    """The column indices of each stacked block: whole data sets side by side while they fit the width;
    the across-data-set columns (rank, W/T/L) go with the last block."""
    narrow = target.name != "wide"
    pad = 2 * target.tabcolsep_pt
    name_width = max(lines_width(stacked(table.method_names[m], narrow), target.size_pt) for m in rows)
    name_width = max(name_width, text_width("Method", target.size_pt))

    def width(indices: list[int]) -> float:
        spans: dict[str | None, float] = {}  # a data set's columns, or one across-data-set column each
        for i in indices:
            cell = max([latex_cell_width(_number(table, (m, i), True), target) for m in rows]
                       + [lines_width(stacked(table.columns[i].header, narrow), target.size_pt)]) + pad
            key = table.columns[i].dataset or f"#{i}"
            spans[key] = spans.get(key, 0.0) + cell
        for d in spans:  # a data set's name above its columns widens them where it is wider
            if d in table.dataset_names:
                spans[d] = max(spans[d], lines_width(stacked(table.dataset_names[d], True), target.size_pt) + pad)
        return name_width + sum(spans.values())

    by_dataset: dict[str | None, list[int]] = {}
    for i, col in enumerate(table.columns):
        by_dataset.setdefault(col.dataset, []).append(i)
    tail = by_dataset.pop(None, [])
    limit = SAFETY * target.width_pt
    blocks: list[list[int]] = [[]]
    for indices in by_dataset.values():
        if blocks[-1] and width(blocks[-1] + indices) > limit:
            blocks.append([])
        blocks[-1] += indices
    if tail:
        if blocks[-1] and width(blocks[-1] + tail) > limit:
            blocks.append([])
        blocks[-1] += tail
    return blocks


def _tabular(table: Table, target: Target, groups: list[tuple[str, list[str]]], indices: list[int]) -> list[str]:
    narrow = target.name != "wide"
    columns = [table.columns[i] for i in indices]
    spans: list[tuple[str | None, str, int]] = []  # (dataset or None, top header, width)
    for col in columns:
        top = col.dataset if col.dataset is not None else ("W/T/L" if col.kind.startswith("wtl") else "")
        if spans and spans[-1][0] == col.dataset and spans[-1][1] == top and top:
            spans[-1] = (col.dataset, top, spans[-1][2] + 1)
        else:
            spans.append((col.dataset, top, 1))
    tops, rules, start = [], [], 2
    for dataset, top, span in spans:
        text = stack_cell(stacked(table.dataset_names[dataset], True)) if dataset is not None else latex_escape(top)
        tops.append(f"\\multicolumn{{{span}}}{{c}}{{{text}}}" if span > 1 or dataset else text)
        if top:
            rules.append(f"\\cmidrule(lr){{{start}-{start + span - 1}}}")
        start += span
    subs = [stack_cell(stacked(c.header, narrow)) for c in columns]
    width = len(columns) + 1
    lines = [f"\\begin{{tabular}}{{@{{}}l{'r' * len(columns)}@{{}}}}", "\\toprule",
             " & ".join(["", *tops]) + " \\\\", "".join(rules), " & ".join(["Method", *subs]) + " \\\\"]
    for group, methods in groups:
        lines.append("\\midrule")
        if group:
            lines.append(f"\\multicolumn{{{width}}}{{@{{}}l}}{{\\textit{{{latex_escape(group)}}}}} \\\\")
        for m in methods:
            name = stack_cell(stacked(table.method_names[m], narrow), "l")
            lines.append(" & ".join([name, *(_number(table, (m, i), True) for i in indices)]) + " \\\\")
    return [*lines, "\\bottomrule", "\\end{tabular}"]


def _height(table: Table, target: Target, groups: list[tuple[str, list[str]]]) -> float:
    """Estimated height (pt) of one stacked block: header lines and rows (a stacked name is two)."""
    narrow = target.name != "wide"
    line = 1.2 * target.size_pt
    names = sum(len(stacked(table.method_names[m], narrow)) for _, rows in groups for m in rows)
    return line * (names + sum(1 for g, _ in groups if g) + 4.5) + 6.0


def _notes_height(notes: list[str], target: Target) -> float:
    per_line = target.width_pt / (0.5 * target.small_pt)
    lines = sum(-(-len(n) // int(per_line)) for n in notes)
    return lines * 1.2 * target.small_pt + 8.0


def render_latex(table: Table, target: str = "wide", compact: bool = False, label: str | None = None) -> str:
    """Booktabs floats laid out for ``target`` (``fit.TARGETS``); needs ``\\usepackage{booktabs}`` only.

    ``compact``: the main-text rows (``fit.compact_groups``); else every row. Data set columns are cut
    into blocks stacked in the float, the blocks into floats that fit the page; the first float
    carries ``label`` (default: the table's label, suffixed by the target and selection).
    """
    page = TARGETS[target]
    groups = compact_groups(table) if compact else table.groups
    rows = [m for _, ms in groups for m in ms]
    label = label or table_label(table, target, compact)
    notes = list(table.notes)
    if compact:
        shown = ", ".join(table.method_names[m] for m in table.methods if m not in rows)
        notes.insert(0, f"Selected rows: the reference, the LPG rows, the bases of LPG+X rows and the best of each "
                        f"column; marks, ranks and W/T/L are those of the full table. Not shown: {shown}.")
    budget, block = page.height_pt - 30.0, _height(table, page, groups)
    floats: list[list[list[int]]] = [[]]
    for indices in _block_columns(table, page, rows):
        if floats[-1] and block * (len(floats[-1]) + 1) > budget:
            floats.append([])
        floats[-1].append(indices)
    notes_apart = block * len(floats[-1]) + _notes_height(notes, page) > budget
    lines = [f"% lpg-meta: laid out for {page.width_in} in ({page.float_env}); needs \\usepackage{{booktabs}}.",
             "% Marks are macros: redefine \\lpgbetter, \\lpgworse or \\lpgstd before \\input to restyle them.",
             *MACROS]
    for n, blocks in enumerate(floats):
        caption = table.caption if n == 0 else f"{table.caption} (continued)"
        lines += [f"\\begin{{{page.float_env}}}[t]", "\\centering", page.size_command,
                  f"\\setlength{{\\tabcolsep}}{{{page.tabcolsep_pt:g}pt}}",
                  f"\\caption{{{latex_escape(caption)}}}", f"\\label{{{label if n == 0 else f'{label}-{n + 1}'}}}"]
        for k, indices in enumerate(blocks):
            lines += ([] if k == 0 else ["", "\\medskip"]) + _tabular(table, page, groups, indices)
        if n + 1 == len(floats) and not notes_apart:
            lines += _notes(notes)
        lines += [f"\\end{{{page.float_env}}}"]
    if notes_apart:
        lines += [f"\\begin{{{page.float_env}}}[t]", f"\\caption{{{latex_escape(table.caption)} (notes)}}",
                  f"\\label{{{label}-notes}}", *_notes(notes), f"\\end{{{page.float_env}}}"]
    return "\n".join(lines) + "\n"


def _notes(notes: list[str]) -> list[str]:
    return ["", "\\smallskip", "\\begin{minipage}{\\linewidth}\\scriptsize",
            *(latex_escape(n) + "\\par" for n in notes), "\\end{minipage}"]


def table_label(table: Table, target: str, compact: bool) -> str:
    """The full table at 6.75 in keeps the table's own label; every other layout adds its name."""
    if target == "wide" and not compact:
        return table.label
    return f"{table.label}-{target}{'' if compact else '-full'}"


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
    if fmt == "md":
        return "\n".join(render_markdown(t) for t in tables)
    return "\n".join(render_latex(t) for t in tables)


def leaderboard(source: str | Path, fmt: str = "md", metric: str | None = None, split: str = "test",
                spec: dict[str, Any] | None = None) -> str:
    """The rendered tables of a results folder or ``runs.csv``."""
    return render(build_tables(load_results(source, spec), metric, split), fmt)


# (target, compact) of the files beside leaderboard_<table>.tex (the full table at 6.75 in)
LAYOUTS = (("column", True), ("column", False), ("text", True), ("text", False), ("wide", True))


def write_leaderboards(results: Results | str | Path, out: str | Path | None = None, metric: str | None = None,
                       split: str = "test") -> list[Path]:
    """Write ``leaderboard.md``, ``.csv``, ``.tex`` (all tables) and, per table, ``leaderboard_<table>.tex``
    (every row at 6.75 in: the appendix table of a two-column paper) and one file per other layout,
    ``leaderboard_<table>_<target>[_full].tex`` (``LAYOUTS``).

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
               # all tables in one file, with labels of their own, so it can be included beside the others
               out / "leaderboard.tex": "\n".join(render_latex(t, label=f"{t.label}-all") for t in tables)}
    for table in tables:
        written[out / f"leaderboard_{table.spec.name}.tex"] = render_latex(table)
        for target, compact in LAYOUTS:
            name = f"leaderboard_{table.spec.name}_{target}{'' if compact else '_full'}.tex"
            written[out / name] = render_latex(table, target, compact)
    for path, text in written.items():
        write_text_atomic(path, text)
    return list(written)
