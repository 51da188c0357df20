"""Paper tables: data set rows as columns, method rows in groups, paired-by-seed marks.

One table per entry of the suite's ``tables:`` section, else one per protocol (balanced,
long-tail, noisy) in suite order. Pure functions of the results (``tidy.Results``): sorted
order, no timestamps, no absolute paths, so a table recomputed from the same data, whether
result files or ``runs.csv``, is byte-identical.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lpg_meta.catalog.methods import REFERENCE
from lpg_meta.collapse import COLLAPSE_DROP
from lpg_meta.errors import UserError, closest
from lpg_meta.report.collect import mean_std
from lpg_meta.report.identical import identical_cells
from lpg_meta.report.layout import METRIC_INFO, METRICS, PROTOCOL_TITLES, TableSpec
from lpg_meta.report.power import minimum_detectable_effect
from lpg_meta.report.published import Published, lookup, protocol_of
from lpg_meta.report.stats import ALPHA, column_marks, paired, rank_rows, win_tie_loss
from lpg_meta.report.tidy import COLLAPSED, Results
from lpg_meta.results import PER_EPOCH_METRICS, SHOT_GROUPS

SHOTS = SHOT_GROUPS
PER_EPOCH = PER_EPOCH_METRICS  # metrics the per-epoch history records (peak column)


def scale(quantity: str) -> float:
    """Display factor: rates (and ECE) in percent, NLL as is."""
    return 1.0 if quantity == "nll" else 100.0


def decimals(quantity: str) -> int:
    return 3 if quantity == "nll" else 2


@dataclass(frozen=True)
class Column:
    """One column: ``kind`` is 'main', 'paper', 'shot', 'peak', 'rank', 'wtl_ref' or 'wtl_base'."""

    dataset: str | None
    kind: str
    quantity: str
    header: str


@dataclass
class TableCell:
    """One (method, column): mean ± std over seeds in display units, or a text (rank, W/T/L)."""

    mean: float | None = None
    std: float | None = None
    n: int = 0
    failed: int = 0
    total: int = 0
    collapsed: int = 0  # finished seeds that collapsed (lpg_meta.collapse): kept in mean and std
    mark: str = ""  # 'better' / 'worse' (significantly, than the table's reference; stats.column_marks) or ''
    same_as: str | None = None  # the earlier method whose runs on this data set this cell's repeat bit for bit
    text: str | None = None
    source: str | None = None


@dataclass
class Table:
    """A paper table before rendering (``render.render_markdown`` / ``render_latex`` / ``render_csv``)."""

    spec: TableSpec
    caption: str
    label: str
    split: str
    groups: list[tuple[str, list[str]]]
    method_names: dict[str, str]
    dataset_names: dict[str, str]
    columns: list[Column]
    cells: dict[tuple[str, int], TableCell]
    notes: list[str] = field(default_factory=list)
    show_n: bool = False
    method_ids: dict[str, str] = field(default_factory=dict)  # row -> registry method (lpg, lpg+gce, ...)
    bases: dict[str, str] = field(default_factory=dict)  # an lpg+X row -> the row of its base X

    @property
    def methods(self) -> list[str]:
        return [m for _, rows in self.groups for m in rows]


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise UserError(f"unknown metric '{metric}'; choose one of {', '.join(METRICS)}.{closest(metric, METRICS)}")


def _cell(results: Results, ds: str, m: str, quantity: str, split: str) -> TableCell:
    values = [v * scale(quantity) for _, v in sorted(results.get(ds, m, quantity, split).items())]
    mean, std = mean_std(values)
    seeds = results.seeds.get((ds, m), [])
    failed = sum(1 for f in results.failures if (f.dataset, f.method) == (ds, m))
    collapsed = sum(v > 0.5 for v in results.get(ds, m, COLLAPSED, "test").values())
    return TableCell(mean, std, len(values), failed, len(seeds), collapsed)


def _scaled(results: Results, ds: str, m: str, quantity: str, split: str) -> dict[int, float]:
    return {s: v * scale(quantity) for s, v in results.get(ds, m, quantity, split).items()}


def _columns(results: Results, spec: TableSpec, split: str) -> list[Column]:
    metric, columns = spec.metric, []
    for ds in spec.datasets:
        config = results.layout.datasets.get(ds, {}).get("config") or {}
        columns.append(Column(ds, "main", metric, METRIC_INFO[metric].header))
        if split == "test" and protocol_of(config) and any(_published(results, ds, m, metric) for m in spec.methods):
            columns.append(Column(ds, "paper", metric, "Paper"))
        if "shots" in spec.extra and results.layout.protocol(ds) == "long-tail" and metric not in SHOTS:
            columns += [Column(ds, "shot", s, METRIC_INFO[s].header) for s in SHOTS]
        if "peak" in spec.extra and results.layout.protocol(ds) == "noisy" and metric in PER_EPOCH:
            columns.append(Column(ds, "peak", f"peak_{metric}", "Peak"))
    return columns


def _published(results: Results, ds: str, m: str, metric: str) -> Published | None:
    config = results.layout.datasets.get(ds, {}).get("config") or {}
    entry = lookup(protocol_of(config), results.layout.methods.get(m, {}).get("method"))
    return entry if entry and entry.as_metric(metric) is not None else None


def _fill_column(results: Results, table: Table, index: int) -> None:
    col, split = table.columns[index], table.split
    higher = METRIC_INFO[col.quantity.removeprefix("peak_")].higher_is_better
    for m in table.methods:
        if col.kind == "paper":
            entry = _published(results, col.dataset, m, col.quantity)
            table.cells[(m, index)] = (TableCell(mean=entry.as_metric(col.quantity), source=entry.source)
                                       if entry else TableCell())
        else:
            table.cells[(m, index)] = _cell(results, col.dataset, m, col.quantity, split)
    if col.kind in ("main", "shot"):  # published numbers and peaks are context, not contestants
        values = {m: _scaled(results, col.dataset, m, col.quantity, split) for m in table.methods}
        same = identical_cells(results, col.dataset, table.methods)
        for m, mark in column_marks(values, mark_reference(table), higher, same=same).items():
            table.cells[(m, index)].mark = mark
            table.cells[(m, index)].same_as = same.get(m)


def mark_reference(table: Table) -> str | None:
    """The method every other is marked against: the table's reference, else the first row of the reference
    baseline (CE) where the table has one."""
    reference = table.spec.reference or next((m for m in table.methods if table.method_ids.get(m, m) == REFERENCE),
                                             None)
    return reference if reference in table.methods else None


def _rank_column(results: Results, table: Table) -> TableCell | None:
    spec, split = table.spec, table.split
    complete = [m for m in table.methods
                if all(results.get(ds, m, spec.metric, split) for ds in spec.datasets)]
    if len(complete) < 2:
        return None
    means = np.array([[np.mean(list(results.get(ds, m, spec.metric, split).values())) for m in complete]
                      for ds in spec.datasets])
    ranks = rank_rows(means, METRIC_INFO[spec.metric].higher_is_better).mean(axis=0)
    index = len(table.columns)
    table.columns.append(Column(None, "rank", spec.metric, "Avg. rank"))
    for m in table.methods:
        rank = dict(zip(complete, ranks, strict=True)).get(m)
        table.cells[(m, index)] = TableCell(mean=rank, text="–" if rank is None else f"{rank:.2f}")
    return table.cells[(complete[0], index)]


def _wtl_column(results: Results, table: Table, kind: str, against: dict[str, str], header: str) -> None:
    spec, split = table.spec, table.split
    index = len(table.columns)
    table.columns.append(Column(None, kind, spec.metric, header))
    higher = METRIC_INFO[spec.metric].higher_is_better
    for m in table.methods:
        other = against.get(m)
        if other is None:
            table.cells[(m, index)] = TableCell(text="–")
            continue
        tests = [paired(results.get(ds, m, spec.metric, split), results.get(ds, other, spec.metric, split))
                 for ds in spec.datasets]
        table.cells[(m, index)] = TableCell(text="/".join(str(x) for x in win_tie_loss(tests, higher)))


def build_table(results: Results, spec: TableSpec, split: str = "test") -> Table:
    """Aggregate ``results`` into the table ``spec`` describes (last-epoch metrics of ``split``)."""
    _check_metric(spec.metric)
    layout = results.layout
    names = {m: spec.display.get(m) or layout.method_name(m) for m in spec.methods}
    datasets = {d: spec.display.get(d) or layout.dataset_name(d) for d in spec.datasets}
    info = METRIC_INFO[spec.metric]
    seeds = sorted({len(results.seeds.get((d, m), [])) for d in spec.datasets for m in spec.methods} - {0})
    title = PROTOCOL_TITLES.get(spec.name, spec.name)
    caption = spec.caption or (f"{title} data sets: last-epoch {split} "
                               f"{info.name}{' (%)' if info.unit else ''}, mean ± std over "
                               f"{' or '.join(map(str, seeds)) or 'no'} seeds.")
    label = spec.label or f"tab:{layout.suite or 'results'}-{spec.name}"
    table = Table(spec, caption, label, split, [(g, list(rows)) for g, rows in spec.groups], names, datasets,
                  _columns(results, spec, split), {},
                  method_ids={m: layout.method_of(m) for m in spec.methods})
    for index in range(len(table.columns)):
        _fill_column(results, table, index)
    if len(spec.datasets) > 1:
        _rank_column(results, table)
    if spec.reference in table.methods:
        against = {m: spec.reference for m in table.methods if m != spec.reference}
        _wtl_column(results, table, "wtl_ref", against, f"vs {names[spec.reference]}")
    bases = {m: b for m in table.methods if (b := layout.base_of(m)) in table.methods}
    table.bases = bases
    if bases:
        _wtl_column(results, table, "wtl_base", bases, "vs base")
    counts = {c.n for (_, i), c in table.cells.items() if table.columns[i].kind == "main" and c.n}
    table.show_n = len(counts) > 1
    table.notes = _notes(results, table)
    return table


def _mark_notes(results: Results, table: Table) -> list[str]:
    """What the marks mean, which cells repeat another, and the MDE where a column has no mark."""
    reference = mark_reference(table)
    if reference is None:
        return ["No marks: the table has no reference method (set the table's reference, or include CE)."]
    name = table.method_names[reference]
    notes = [f"Bold: significantly better than {name}; italic: significantly worse (two-sided paired t-test "
             f"over the seeds both have, which share data split, label noise and initialisation, on unrounded "
             f"values; α = {ALPHA}, Holm's correction within the column, so a column carries a wrong mark with "
             f"probability at most α when no method differs from {name}). Unmarked: no difference shown."]
    same = sorted({(c.same_as, m, col.dataset) for (m, i), c in table.cells.items()
                   if c.same_as and (col := table.columns[i]).kind == "main" and col.dataset})
    if same:
        listed = "; ".join(f"{table.method_names[m]} = {table.method_names[a]} on {table.dataset_names[d]}"
                           for a, m, d in same)
        notes.append(f"= : runs identical bit for bit to another row's (every seed and metric), tested once: "
                     f"{listed}.")
    silent = []
    for i, col in enumerate(table.columns):
        if col.kind != "main" or col.dataset is None or any(table.cells[(m, i)].mark for m in table.methods):
            continue
        mde = _column_mde(results, table, col.dataset, col.quantity, reference)
        if mde is not None:
            silent.append(f"{table.dataset_names[col.dataset]} {mde[1]:.1f} at n = {mde[0]}")
    if silent:
        notes.append(f"No cell differs significantly from {name} in: {'; '.join(silent)} (the minimum difference "
                     f"in points a column's comparisons detect with 80 % power at Holm's first step α/m, their "
                     f"median paired sd and fewest common seeds).")
    return notes


def _column_mde(results: Results, table: Table, ds: str, quantity: str, reference: str) -> tuple[int, float] | None:
    """(fewest common seeds, MDE in display units) of a column's comparisons with the reference."""
    same = identical_cells(results, ds, table.methods)
    base = _scaled(results, ds, reference, quantity, table.split)
    tests = [paired(_scaled(results, ds, m, quantity, table.split), base)
             for m in table.methods if m != reference and m not in same]
    tests = [t for t in tests if t.sd is not None]
    if not tests:
        return None
    n = min(t.n for t in tests)
    mde = minimum_detectable_effect(n, float(np.median([t.sd for t in tests])), ALPHA / len(tests))
    return None if mde is None else (n, mde)


def _seed_counts(table: Table) -> str:
    """Which cells have other than the usual number of seeds, by method: one line, so cells stay narrow."""
    by_n: dict[int, dict[str, list[str]]] = {}
    for (m, i), c in table.cells.items():
        col = table.columns[i]
        if col.kind == "main" and c.n and col.dataset:
            by_n.setdefault(c.n, {}).setdefault(m, []).append(col.dataset)
    usual = max(by_n, key=lambda n: (sum(map(len, by_n[n].values())), n))
    every = set(table.spec.datasets)
    others = []
    for n, cells in sorted(by_n.items()):
        if n == usual:
            continue
        where: dict[str, list[str]] = {}  # the data sets -> the methods with n seeds on them
        for m, datasets in cells.items():
            key = "every data set" if set(datasets) == every else ", ".join(table.dataset_names[d] for d in datasets)
            where.setdefault(key, []).append(table.method_names[m])
        others.append(f"{n} for " + "; ".join(f"{', '.join(ms)} on {key}" for key, ms in where.items()))
    return f"Seeds per cell: {usual}, except {'; '.join(others)}."


def _notes(results: Results, table: Table) -> list[str]:
    spec, info, split = table.spec, METRIC_INFO[table.spec.metric], table.split
    kinds = {c.kind for c in table.columns}
    better = "higher" if info.higher_is_better else "lower"
    notes = [f"Cells: mean ± sample std (n-1) over seeds of the last-epoch {split} {info.name}"
             f"{' in %' if info.unit else ''} ({better} is better)."
             + (f" {_seed_counts(table)}" if table.show_n else ""),
             *_mark_notes(results, table)]
    if "shot" in kinds:
        data_of = {d: (results.layout.datasets[d].get("config") or {}).get("data", {}) for d in spec.datasets}
        limits = sorted({(int(data_of[d].get("many_threshold", 100)), int(data_of[d].get("few_threshold", 20)))
                         for d in spec.datasets if results.layout.protocol(d) == "long-tail"})
        text = "; ".join(f"> {many}, {few}-{many}, < {few}" for many, few in limits)
        notes.append(f"Many / Med. / Few: {split} accuracy (%) on classes with {text} training samples.")
    if "peak" in kinds:
        notes.append(f"Peak: the best per-epoch {split} {info.name} over training, beside the last epoch's: "
                     f"where it is well above, the method memorized label noise. The {split} split picks "
                     "that epoch, so it is a diagnostic, not a result, and is not marked.")
    if "rank" in kinds:
        notes.append(f"Avg. rank: the method's rank by mean (1 = best, ties share) averaged over the "
                     f"table's {len(spec.datasets)} data sets, among methods with a value on every one.")
    if "wtl_ref" in kinds or "wtl_base" in kinds:
        against = f"{table.method_names[spec.reference]}" if "wtl_ref" in kinds else ""
        base = "each LPG+X against its base X" if "wtl_base" in kinds else ""
        notes.append(f"W/T/L: data sets where the row is significantly better / neither / significantly worse "
                     f"(two-sided paired t-test, α = {ALPHA}, Holm's correction over the row's data sets), "
                     f"vs {' and '.join(filter(None, [against, base]))}.")
    if "paper" in kinds:
        notes.append(_paper_note(results, table))
    failures = [f for f in results.failures if f.dataset in spec.datasets and f.method in table.methods]
    if failures:
        listed = "; ".join(f"{table.method_names[f.method]} on {table.dataset_names[f.dataset]}, seed {f.seed}: "
                           f"{f.reason}{f' (epoch {f.epoch})' if f.epoch is not None else ''}" for f in failures)
        notes.append(f"† failed runs, left out of mean and std: {listed}.")
    collapsed = []  # per data set, the cells with collapsed seeds: one entry per cell keeps the note short
    for ds in spec.datasets:
        cells = []
        for m in table.methods:
            seeds = [str(seed) for seed, flag in sorted(results.get(ds, m, COLLAPSED, "test").items()) if flag > 0.5]
            if seeds:
                cells.append(f"{table.method_names[m]} (seed{'s' if len(seeds) > 1 else ''} {', '.join(seeds)})")
        if cells:
            collapsed.append(f"{table.dataset_names[ds]}: {', '.join(cells)}")
    if collapsed:
        notes.append(f"‡ collapsed runs (‡k: k seeds of the cell; the last epoch's test balanced accuracy more than "
                     f"{100 * COLLAPSE_DROP:.0f} points below the run's best epoch), kept in mean and std: "
                     f"{'; '.join(collapsed)}.")
    return notes


def _paper_note(results: Results, table: Table) -> str:
    sources: dict[str, set[str]] = {}
    for m in table.methods:
        for ds in table.spec.datasets:
            if entry := _published(results, ds, m, table.spec.metric):
                sources.setdefault(entry.source, set()).add(entry.method)
    listed = "; ".join(f"{', '.join(sorted(n))}: {s}" for s, n in sorted(sources.items()))
    return (f"Paper: published ResNet-32 numbers from docs/method.md §7, not rerun here (the reproduced "
            f"columns use the suite's model and epochs). Sources: {listed}. Long-tail numbers are "
            "published as top-1 error and shown as 100 minus that; the CIFAR test sets are balanced, so "
            "top-1 accuracy equals balanced accuracy.")


def build_tables(results: Results, metric: str | None = None, split: str = "test") -> list[Table]:
    """Every table of the layout (``metric`` overrides each table's), or one per protocol."""
    if metric is not None:
        _check_metric(metric)
    specs = results.layout.tables
    if specs is None:
        specs = results.layout.default_tables(metric or "balanced_accuracy", results.present())
    elif metric is not None:
        specs = [TableSpec(s.name, s.datasets, s.groups, metric, s.extra, s.caption, s.label, s.reference, s.display)
                 for s in specs]
    return [build_table(results, spec, split) for spec in specs]
