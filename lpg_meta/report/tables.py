"""Leaderboards: methods as rows, dataset rows as columns, mean ± sample std over seeds.

Pure functions of the result files: sorted order, no timestamps, no absolute paths, so a
table recomputed from the same files is byte-identical.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from tabulate import tabulate

from lpg_meta.collapse import COLLAPSE_DROP
from lpg_meta.errors import UserError, closest
from lpg_meta.report.collect import (
    Run,
    dataset_config,
    group_runs,
    is_long_tail,
    is_noisy,
    load_runs,
    mean_std,
)
from lpg_meta.report.published import Published, lookup, protocol_of
from lpg_meta.results import (
    LOWER_IS_BETTER,
    METRIC_DIRECTIONS,
    PER_EPOCH_METRICS,
    SHOT_GROUPS,
    write_text_atomic,
)

METRICS = tuple(METRIC_DIRECTIONS)
SHOTS = SHOT_GROUPS
PER_EPOCH = PER_EPOCH_METRICS  # metrics the per-epoch history records
FORMATS = ("md", "latex", "csv")


def scale(quantity: str) -> float:
    """Display factor: rates (and ECE) in percent, NLL as is."""
    return 1.0 if quantity == "nll" else 100.0


def decimals(quantity: str) -> int:
    return 3 if quantity == "nll" else 2


@dataclass(frozen=True)
class Column:
    """One table column: ``kind`` is 'reproduced', 'paper' or a shot group."""

    dataset_row: str
    kind: str
    quantity: str
    label: str  # the sub-header under the dataset row: metric, reproduced, paper, many, ...


@dataclass
class Cell:
    """Aggregated values of one (method row, column), in display units (percent for rates)."""

    mean: float | None = None
    std: float | None = None
    n: int = 0  # seeds with a value
    failed: int = 0
    total: int = 0
    collapsed: int = 0  # finished runs that collapsed (lpg_meta.collapse); kept in mean and std
    rank: int | None = None  # 1 best, 2 second best in its column
    source: str | None = None  # paper cells: where the number comes from


@dataclass
class Table:
    """A leaderboard before rendering; ``render`` turns it into md, LaTeX or csv."""

    title: str
    metric: str
    split: str
    methods: list[str]
    columns: list[Column]
    cells: dict[tuple[str, int], Cell]
    notes: list[str] = field(default_factory=list)
    show_n: bool = False


def _aggregate(runs: list[Run], quantity: str, split: str) -> Cell:
    values = [v * scale(quantity) for r in runs if (v := r.metric(quantity, split)) is not None]
    mean, std = mean_std(values)
    collapsed = sum(bool(r.collapse and r.collapse["collapsed"]) for r in runs)
    return Cell(mean, std, len(values), sum(not r.ok for r in runs), len(runs), collapsed=collapsed)


def _peak(runs: list[Run], quantity: str, split: str) -> Cell:
    """Mean ± std over seeds of the best per-epoch value of ``quantity`` (``history``)."""
    key = f"{split}_{quantity}"
    values = []
    for run in runs:
        curve = [h[key] for h in run.result.get("history") or [] if isinstance(h.get(key), (int, float))]
        if run.ok and curve:
            values.append(max(curve) * scale(quantity))
    mean, std = mean_std(values)
    return Cell(mean, std, len(values), sum(not r.ok for r in runs), len(runs))


def _rank(cells: list[Cell], quantity: str) -> None:
    """Mark best (1) and second best (2) by the shown, rounded value, so visible ties tie."""
    shown = sorted({round(c.mean, decimals(quantity)) for c in cells if c.mean is not None},
                   reverse=quantity not in LOWER_IS_BETTER)
    for cell in cells:
        if cell.mean is not None and round(cell.mean, decimals(quantity)) in shown[:2]:
            cell.rank = shown.index(round(cell.mean, decimals(quantity))) + 1


def build_table(runs: list[Run], metric: str = "balanced_accuracy", split: str = "test", title: str = "") -> Table:
    """Aggregate runs into a leaderboard of ``metric`` on ``split`` (last-epoch metrics)."""
    if metric not in METRICS:
        raise UserError(f"unknown metric '{metric}'; choose one of {', '.join(METRICS)}.{closest(metric, METRICS)}")
    groups = group_runs(runs)
    datasets = sorted({r.dataset_row for r in runs})
    methods = sorted({r.method_row for r in runs})
    columns: list[Column] = []
    cells: dict[tuple[str, int], Cell] = {}
    notes: list[str] = []
    for ds in datasets:
        cfg = dataset_config(runs, ds)
        protocol = protocol_of(cfg) if split == "test" else None  # papers report test numbers only
        paper: dict[str, tuple[Cell, Published]] = {}
        for m in methods:
            cell_runs = groups.get((ds, m), [])
            entry = lookup(protocol, cell_runs[0].config.get("method") if cell_runs else None)
            if entry and (value := entry.as_metric(metric)) is not None:
                paper[m] = (Cell(mean=value, source=entry.source), entry)
        kinds = ["reproduced"] + (["paper"] if paper else [])
        if is_long_tail(cfg) and metric not in SHOTS:
            kinds += list(SHOTS)
            data = cfg.get("data") or {}
            many, few = data.get("many_threshold", 100), data.get("few_threshold", 20)
            notes.append(f"{ds} many/medium/few: {split} accuracy % on classes with > {many}, "
                         f"{few} to {many}, < {few} training samples.")
        if is_noisy(cfg) and metric in PER_EPOCH:
            kinds.append("peak")
            notes.append(f"{ds} peak: the best per-epoch {split} {metric} over training, beside the last "
                         f"epoch's: where it is well above, the method memorized label noise. The {split} "
                         f"split picks that epoch, so it is a diagnostic, not a result, and is not ranked.")
        for kind in kinds:
            label = {"reproduced": "reproduced" if paper else metric}.get(kind, kind.removesuffix("_shot"))
            col = Column(ds, kind, metric if kind in ("reproduced", "paper", "peak") else kind, label)
            columns.append(col)
            index = len(columns) - 1
            for m in methods:
                if kind == "paper":
                    cells[(m, index)] = paper[m][0] if m in paper else Cell()
                elif kind == "peak":
                    cells[(m, index)] = _peak(groups.get((ds, m), []), metric, split)
                else:
                    cells[(m, index)] = _aggregate(groups.get((ds, m), []), col.quantity, split)
            if kind not in ("paper", "peak"):  # published numbers and peaks are context, not contestants
                _rank([cells[(m, index)] for m in methods], col.quantity)
        if paper:
            notes.append(_paper_note(ds, protocol or "", metric, cfg, paper))
    shown_n = {c.n for (_, i), c in cells.items() if columns[i].kind == "reproduced" and c.n}
    table = Table(title, metric, split, methods, columns, cells, notes, show_n=len(shown_n) > 1)
    table.notes.extend(_failure_notes(groups))
    table.notes.extend(_collapse_notes(groups))
    return table


def _paper_note(ds: str, protocol: str, metric: str, cfg: dict, paper: dict[str, tuple[Cell, Published]]) -> str:
    sources: dict[str, set[str]] = {}
    for _, entry in paper.values():
        sources.setdefault(entry.source, set()).add(entry.method)
    listed = "; ".join(f"{', '.join(sorted(n))}: {s}" for s, n in sorted(sources.items()))
    kind = "top-1 " + next(iter(paper.values()))[1].kind  # one protocol has one kind
    convert = {"error": "error", "accuracy": "accuracy", "balanced_accuracy": "accuracy"}[metric]
    text = (f"paper ({ds} = {protocol}): published ResNet-32 numbers from METHOD.md §7, not rerun here "
            f"(reproduced: model {cfg.get('model')}, {(cfg.get('train') or {}).get('epochs')} epochs). "
            f"Sources: {listed}.")
    if not kind.endswith(convert):
        text += f" Published as {kind} %, shown as 100 - that."
    if metric == "balanced_accuracy":
        text += " The CIFAR test set is balanced, so top-1 accuracy equals balanced accuracy."
    return text


def _failure_notes(groups: dict[tuple[str, str], list[Run]]) -> list[str]:
    failures = []
    for (ds, m), runs in groups.items():
        for run in runs:
            if not run.ok:
                reason, epoch = run.failure
                at = f" (epoch {epoch})" if epoch is not None else ""
                failures.append(f"{m} on {ds}, seed {run.seed}: {reason}{at}")
    return [f"† failed runs, left out of mean and std: {'; '.join(failures)}."] if failures else []


def _collapse_notes(groups: dict[tuple[str, str], list[Run]]) -> list[str]:
    found = []
    for (ds, m), runs in groups.items():
        for run in runs:
            if run.collapse and run.collapse["collapsed"]:
                c = run.collapse
                found.append(f"{m} on {ds}, seed {run.seed}: {100 * c['best']:.1f} (epoch {c['best_epoch']}) -> "
                             f"{100 * c['last']:.1f}, fallen from epoch {c['onset_epoch']}")
    if not found:
        return []
    return [f"‡ collapsed runs (last epoch's test balanced accuracy more than {100 * COLLAPSE_DROP:.0f} points "
            f"below the run's best epoch), kept in mean and std: {'; '.join(found)}."]


def _header_note(table: Table, latex: bool) -> str:
    unit = "" if table.metric == "nll" else " in %"
    better = "lower" if table.metric in LOWER_IS_BETTER else "higher"
    second = "; underlined: second best" if latex else ""
    text = (f"Cells: mean ± sample std (n-1) over seeds of the last-epoch {table.split} {table.metric}{unit}; "
            f"bold: best per column ({better} is better for {table.metric}){second}.")
    if table.show_n:
        text += " n: seeds with a value, shown because it differs across cells."
    return text


def _cell_text(table: Table, key: tuple[str, int], latex: bool) -> str:
    cell, col = table.cells[key], table.columns[key[1]]
    dash, pm, dagger = ("--", " $\\pm$ ", "$^\\dagger$") if latex else ("–", " ± ", "†")
    places = decimals(col.quantity)
    if cell.mean is None:
        return f"failed ({cell.failed}/{cell.total}){dagger}" if cell.failed and col.kind == "reproduced" else dash
    text = f"{cell.mean:.{places}f}" + (f"{pm}{cell.std:.{places}f}" if cell.std is not None else "")
    if cell.rank == 1:
        text = f"\\textbf{{{text}}}" if latex else f"**{text}**"
    elif cell.rank == 2 and latex:
        text = f"\\underline{{{text}}}"
    if table.show_n and col.kind == "reproduced":
        text += f" (n={cell.n})"
    if cell.failed and col.kind == "reproduced":
        text += f" (failed {cell.failed}/{cell.total}){dagger}"
    if cell.collapsed and col.kind == "reproduced":
        text += f" (collapsed {cell.collapsed}/{cell.total})" + ("$^\\ddagger$" if latex else "‡")
    return text


_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "<": "$<$", ">": "$>$", "±": "$\\pm$", "†": "$^\\dagger$", "‡": "$^\\ddagger$",
                  "–": "--", "§": "\\S{}"}


def latex_escape(text: str) -> str:
    """Escape LaTeX specials and map the few non-ASCII signs we emit to commands."""
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)


def render_markdown(table: Table) -> str:
    headers = ["method"] + [(c.dataset_row if c.label == c.quantity else f"{c.dataset_row} {c.label}")
                            .replace("|", "\\|") for c in table.columns]
    rows = [[m.replace("|", "\\|")] + [_cell_text(table, (m, i), False) for i in range(len(table.columns))]
            for m in table.methods]
    body = tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)
    notes = "\n".join(f"- {n}" for n in [_header_note(table, False), *table.notes])
    return f"## {table.title}\n\n{body}\n\n{notes}\n"


def render_latex(table: Table) -> str:
    """A booktabs ``table`` float; needs ``\\usepackage{booktabs}`` and nothing else."""
    spans: list[tuple[str, int]] = []
    for col in table.columns:
        if spans and spans[-1][0] == col.dataset_row:
            spans[-1] = (col.dataset_row, spans[-1][1] + 1)
        else:
            spans.append((col.dataset_row, 1))
    groups, rules, start = [], [], 2
    for name, width in spans:
        groups.append(f"\\multicolumn{{{width}}}{{c}}{{{latex_escape(name)}}}")
        rules.append(f"\\cmidrule(lr){{{start}-{start + width - 1}}}")
        start += width
    labels = [latex_escape(c.label) for c in table.columns]
    lines = ["% requires \\usepackage{booktabs}", "\\begin{table}[ht]", "\\centering",
             f"\\caption{{{latex_escape(table.title)}}}", f"\\begin{{tabular}}{{l{'r' * len(table.columns)}}}",
             "\\toprule", " & ".join(["", *groups]) + " \\\\", "".join(rules),
             " & ".join(["method", *labels]) + " \\\\", "\\midrule"]
    for m in table.methods:
        cells = [_cell_text(table, (m, i), True) for i in range(len(table.columns))]
        lines.append(" & ".join([latex_escape(m), *cells]) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", "", "\\smallskip\\footnotesize"]
    lines += [latex_escape(n) + "\\par" for n in [_header_note(table, True), *table.notes]]
    lines.append("\\end{table}")
    return "\n".join(lines) + "\n"


CSV_FIELDS = ("method", "dataset_row", "column", "quantity", "unit", "mean", "std", "n", "failed", "rank", "source",
              "collapsed")


def render_csv(table: Table) -> str:
    """One line per (method, column), full precision, in the shown units."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for m in table.methods:
        for i, col in enumerate(table.columns):
            c = table.cells[(m, i)]
            num = ["" if v is None else repr(float(v)) for v in (c.mean, c.std)]
            writer.writerow([m, col.dataset_row, col.kind, col.quantity, "" if col.quantity == "nll" else "%",
                             *num, c.n, c.failed, c.rank or "", c.source or "", c.collapsed])
    return out.getvalue()


RENDERERS = {"md": render_markdown, "latex": render_latex, "csv": render_csv}
SUFFIXES = {"md": ".md", "latex": ".tex", "csv": ".csv"}


def leaderboard(root: str | Path, fmt: str = "md", metric: str = "balanced_accuracy", split: str = "test") -> str:
    """The rendered leaderboard of every result under ``root``."""
    if fmt not in RENDERERS:
        raise UserError(f"unknown format '{fmt}'; choose one of {', '.join(FORMATS)}.")
    root = Path(root)
    title = f"{root.resolve().name}: last-epoch {split} {metric}"
    return RENDERERS[fmt](build_table(load_runs(root), metric, split, title))


def write_leaderboards(root: str | Path, metric: str = "balanced_accuracy", split: str = "test") -> list[Path]:
    """Write ``<root>/leaderboard.md``, ``.tex`` and ``.csv``; return their paths."""
    root = Path(root)
    runs = load_runs(root)  # read once, so the three files describe the same results
    table = build_table(runs, metric, split, f"{root.resolve().name}: last-epoch {split} {metric}")
    paths = []
    for fmt, render in RENDERERS.items():
        path = root / f"leaderboard{SUFFIXES[fmt]}"
        write_text_atomic(path, render(table))  # a reader never sees half a leaderboard
        paths.append(path)
    return paths
