"""The appendix table of hyperparameters: per cell the tuned values, the search space and the trials.

``hyperparameters.csv`` has one line per (data set row, method row) cell, ``hyperparameters.tex``
one-column ``table`` floats (split where the rows exceed a page), each method row with its search
space and trial count and, below it, the values tuning chose on each data set row. The search
spaces and the trial count come from the suite (``runs.json``); the chosen values from each run's
``suite.tuned_params`` (``run_settings.csv``), which every seed of a cell shares. Where the tidy
extract has no run settings, the table says so instead of guessing.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from lpg_meta.report.render import latex_escape
from lpg_meta.report.tidy import Results
from lpg_meta.results import write_text_atomic

HYPER_CSV, HYPER_TEX = "hyperparameters.csv", "hyperparameters.tex"
FIELDS = ("dataset", "dataset_display", "method", "method_display", "trials", "search_space", "tuned", "seeds")
ROWS_PER_FLOAT = 42  # lines of a one-column float at \scriptsize within a 9 in page, with its notes


def _num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def describe_space(space: dict[str, list[Any]]) -> list[str]:
    """One line per tuned setting: ``eps: log [0.01, 0.9]``, ``eta: {0.01, 0.3, 1}``."""
    lines = []
    for key, dim in space.items():
        kind, *rest = dim
        if kind == "categorical":
            lines.append(f"{key}: {{{', '.join(_num(v) for v in rest[0])}}}")
        else:
            lines.append(f"{key}: {'log ' if kind == 'log' else ''}[{_num(rest[0])}, {_num(rest[1])}]"
                         + (" (int)" if kind == "int" else ""))
    return lines


def cells(results: Results) -> list[dict[str, Any]]:
    """Every (data set, method) cell with runs, in suite order: its space, trials and tuned values."""
    layout, trials = results.layout, layout_trials(results)
    out = []
    for m, info in layout.methods.items():
        space = info.get("search_space")
        for ds in layout.datasets:
            seeds = sorted(results.seeds.get((ds, m), []))
            if not seeds:
                continue
            tuned = [results.settings.get((ds, m, s), {}).get("tuned") for s in seeds]
            known = [t for t in tuned if t is not None]
            out.append({"dataset": ds, "method": m, "space": space, "seeds": len(seeds),
                        "trials": None if space is None or trials is None else (trials if space else 0),
                        "tuned": known[0] if known else None})
    return out


def layout_trials(results: Results) -> int | None:
    value = results.layout.tuning.get("trials")
    return int(value) if value is not None else None


def render_csv(results: Results) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FIELDS)
    for c in cells(results):
        writer.writerow([c["dataset"], results.layout.dataset_name(c["dataset"]), c["method"],
                         results.layout.method_name(c["method"]), "" if c["trials"] is None else c["trials"],
                         "" if c["space"] is None else json.dumps(c["space"], sort_keys=True),
                         "" if c["tuned"] is None else json.dumps(c["tuned"], sort_keys=True), c["seeds"]])
    return out.getvalue()


def _lines(results: Results) -> list[tuple[str, int]]:
    """LaTeX rows with their height in lines: a method row (name, space, trials), then its data sets."""
    rows, by_method = [], {}
    for c in cells(results):
        by_method.setdefault(c["method"], []).append(c)
    for m, group in by_method.items():
        space, trials = group[0]["space"], group[0]["trials"]
        shown = describe_space(space) if space else (["none (seeds only)"] if space is not None else ["unknown"])
        stack = "\\begin{tabular}[t]{@{}l@{}}" + "\\\\".join(latex_escape(s) for s in shown) + "\\end{tabular}"
        rows.append((f"{latex_escape(results.layout.method_name(m))} & {stack} & "
                     f"{'--' if trials is None else trials} \\\\", len(shown)))
        for c in group:
            if space and c["tuned"]:
                values = ", ".join(f"{k} {_num(v)}" for k, v in sorted(c["tuned"].items()))
                rows.append((f"\\enspace {latex_escape(results.layout.dataset_name(c['dataset']))} & "
                             f"\\multicolumn{{2}}{{@{{}}l}}{{{latex_escape(values)}}} \\\\", 1))
    return rows


def render_tex(results: Results) -> str:
    suite = results.layout.suite or "results"
    has_tuned = any(c["tuned"] for c in cells(results))
    trials = layout_trials(results)
    note = (f"Search space: what tuning sampled (log: log-uniform); trials: tuning trials per cell "
            f"({'' if trials is None else trials} for every tuned row, chosen on the validation split, never the "
            "test split), 0 where a row has nothing to tune. ")
    note += ("Indented lines: the values chosen on each data set, shared by every seed of the cell." if has_tuned
             else "The tidy extract these tables come from does not record the chosen values; the result files "
                  "do ('lpg-meta table RESULTS --write' on them writes run_settings.csv and this table with them).")
    chunks: list[list[str]] = [[]]
    used = 0
    for row, height in _lines(results):
        if used + height > ROWS_PER_FLOAT:
            chunks.append([])
            used = 0
        chunks[-1].append(row)
        used += height
    lines = ["% lpg-meta hyperparameters: one-column table floats; needs \\usepackage{booktabs}."]
    for n, rows in enumerate(chunks):
        caption = "Hyperparameters: search space, trials and tuned values per cell" + ("" if n == 0 else " (continued)")
        lines += ["\\begin{table}[t]", "\\centering", "\\scriptsize", "\\setlength{\\tabcolsep}{2pt}",
                  f"\\caption{{{caption}.}}", f"\\label{{tab:{suite}-hyperparameters{'' if n == 0 else f'-{n + 1}'}}}",
                  "\\begin{tabular}{@{}llr@{}}", "\\toprule", "Method & Search space & Trials \\\\", "\\midrule",
                  *rows, "\\bottomrule", "\\end{tabular}"]
        if n + 1 == len(chunks):
            lines += ["", "\\smallskip", f"\\begin{{minipage}}{{\\linewidth}}\\scriptsize {latex_escape(note)}"
                      "\\end{minipage}"]
        lines.append("\\end{table}")
    return "\n".join(lines) + "\n"


def write_hyperparameters(results: Results, out: str | Path) -> list[Path]:
    """Write hyperparameters.csv and .tex into ``out``; return their paths."""
    out = Path(out)
    paths = [out / HYPER_CSV, out / HYPER_TEX]
    for path, text in zip(paths, (render_csv(results), render_tex(results)), strict=True):
        write_text_atomic(path, text)
    return paths
