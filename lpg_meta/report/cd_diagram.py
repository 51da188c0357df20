"""Critical-difference diagrams (Demšar 2006), one per protocol: ``plots/cd_<protocol>``.

Average ranks are taken over the protocol's data set rows, among the methods with a value on every
one of them (a rank needs the whole block); the methods left out are named. The diagram is drawn
only where Friedman's test (Iman and Davenport's F form) rejects at α: without that, the Nemenyi
bars would suggest structure the data do not show, so ``cd_<protocol>.txt`` says why none was
drawn instead.

At text width the diagram is Demšar's: a rank axis with the methods named on either side. At
column width that leaves under an inch for 20 ranks, so the same ranks are drawn as a ranked list:
a row per method, its average rank a dot, the critical difference a bar above, and each group of
methods within it a vertical bar to the right.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from lpg_meta.report.figure_style import figure_files, is_column, new_figure, save_figure
from lpg_meta.report.layout import METRIC_INFO, PROTOCOL_TITLES, PROTOCOLS
from lpg_meta.report.plot_parts import Plot, safe_name, wrap
from lpg_meta.report.stats import Friedman, friedman
from lpg_meta.report.tidy import Results
from lpg_meta.results import write_text_atomic


def protocol_friedman(results: Results, protocol: str, metric: str = "balanced_accuracy",
                      split: str = "test") -> tuple[list[str], list[str], list[str], Friedman | None]:
    """``(data sets, ranked methods, methods left out, Friedman or None)`` of one protocol's rows."""
    layout = results.layout
    datasets = [d for d in layout.datasets if layout.protocol(d) == protocol
                and any((d, m) in results.present() for m in layout.methods)]
    some = [m for m in layout.methods if any(results.get(d, m, metric, split) for d in datasets)]
    methods = [m for m in some if all(results.get(d, m, metric, split) for d in datasets)]
    left_out = [m for m in some if m not in methods]
    if len(datasets) < 2 or len(methods) < 2:
        return datasets, methods, left_out, None
    scores = np.array([[np.mean(list(results.get(d, m, metric, split).values())) for m in methods]
                       for d in datasets])
    return datasets, methods, left_out, friedman(scores, METRIC_INFO[metric].higher_is_better)


def _note(results: Results, protocol: str, datasets: list[str], methods: list[str], left_out: list[str],
          f: Friedman | None) -> str:
    title = PROTOCOL_TITLES.get(protocol, protocol)
    names = results.layout.method_name
    if f is None:
        why = f"{len(datasets)} data set(s) and {len(methods)} method(s) with a value on every one: too few to rank."
    else:
        why = (f"Friedman's test over {f.n_datasets} data sets and {f.n_methods} methods does not reject "
               f"(p = {f.p_f:.2g} ≥ α = {f.alpha}): the data cannot order these methods, so no critical-difference "
               "diagram is drawn.")
    tail = f" Left out (no value on every data set): {', '.join(names(m) for m in left_out)}." if left_out else ""
    return f"{title} protocol: {why}{tail}\n"


def _cliques(sorted_ranks: np.ndarray, critical_difference: float) -> list[tuple[int, int]]:
    """Maximal runs ``(first, last)`` of the ranked methods whose rank spread is below the critical difference."""
    cliques: list[tuple[int, int]] = []
    for a in range(len(sorted_ranks)):
        b = max(i for i in range(a, len(sorted_ranks)) if sorted_ranks[i] - sorted_ranks[a] < critical_difference)
        if b > a and not any(a >= s and b <= e for s, e in cliques):
            cliques.append((a, b))
    return cliques


def _demsar(fig: Figure, names: list[str], ranks: np.ndarray, f: Friedman) -> None:
    """Demšar's diagram of the ranked methods (``names`` and ``ranks`` best first) at text width."""
    k = len(names)
    cliques = _cliques(ranks, f.critical_difference)
    half = (k + 1) // 2
    first_label = -0.9 - 0.3 * len(cliques)  # labels start below the clique bars
    ax = fig.add_subplot()
    ax.set_xlim(k + 0.5, 0.5)  # rank 1 (best) on the right, as Demšar draws it
    ax.set_ylim(first_label - half, 1.6)
    ax.axis("off")
    ax.plot([1, k], [0, 0], color="black", lw=1)
    step = 1 if k <= 15 else (2 if k <= 30 else 5)  # labels of one rank each would overprint
    for r in range(1, k + 1):
        ax.plot([r, r], [0, 0.15 if (r - 1) % step == 0 else 0.08], color="black", lw=1)
        if (r - 1) % step == 0:
            ax.text(r, 0.25, str(r), ha="center", va="bottom")
    cd = min(f.critical_difference, k - 1.0)  # a CD beyond the rank range is drawn to its end
    ax.plot([1, 1 + cd], [1.05, 1.05], color="black", lw=2)
    for end in (1, 1 + cd):
        ax.plot([end, end], [0.95, 1.15], color="black", lw=1)
    ax.text(1 + cd / 2, 1.2, _cd_text(f, k).replace("\n", " "), ha="center", va="bottom")
    for i, (name, rank) in enumerate(zip(names, ranks, strict=True)):  # best half on the right, worst on the left
        right = i < half
        y = first_label - (i if right else k - 1 - i)
        x_end = 0.5 if right else k + 0.5
        ax.plot([rank, rank, x_end], [0, y, y], color="black", lw=0.7)
        ax.text(x_end - 0.05 if right else x_end + 0.05, y, f"{name} ({rank:.2f})",
                ha="left" if right else "right", va="center")
    for n, (a, b) in enumerate(cliques):
        y = -0.45 - 0.3 * n
        ax.plot([ranks[a] - 0.05, ranks[b] + 0.05], [y, y], color="black", lw=2.5)


def _ranked_list(fig: Figure, names: list[str], ranks: np.ndarray, f: Friedman) -> None:
    """The same ranks at column width: a row per method (best on top), cliques as bars on the right."""
    k = len(names)
    cliques = _cliques(ranks, f.critical_difference)
    ax = fig.add_subplot()
    rows = np.arange(k)
    ax.scatter(ranks, rows, color="black", s=10, zorder=3)
    ax.hlines(rows, 1, ranks, color="lightgrey", lw=0.6)
    ax.set_yticks(rows, [f"{name} ({rank:.2f})" for name, rank in zip(names, ranks, strict=True)])
    ax.set_ylim(k - 0.5, -2.0 - 0.9 * _cd_text(f, k).count("\n"))
    ax.set_xlim(0.5, k + 0.5 + 0.5 * len(cliques))
    ax.set_xticks(range(1, k + 1, max(1, -(-k // 7))))  # ranks only: the clique bars sit right of k
    ax.set_xlabel("average rank (1 = best)")
    cd = min(f.critical_difference, k - 1.0)
    ax.plot([1, 1 + cd], [-1.2, -1.2], color="black", lw=2)
    ax.text(1, -1.5, _cd_text(f, k), ha="left", va="bottom")
    for n, (a, b) in enumerate(cliques):
        x = k + 0.5 + 0.5 * (n + 0.5)
        ax.plot([x, x], [a - 0.2, b + 0.2], color="black", lw=2.5)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _cd_text(f: Friedman, k: int) -> str:
    beyond = "\n(wider than the rank range:\nno two methods differ)" if f.critical_difference > k - 1 else ""
    return f"CD = {f.critical_difference:.2f}{beyond}"


def _draw(results: Results, protocol: str, methods: list[str], left_out: list[str], f: Friedman,
          stem: Path) -> Plot:
    order = np.argsort(f.average_ranks, kind="stable")  # best (lowest rank) first
    names = [results.layout.method_name(methods[j]) for j in order]
    ranks = f.average_ranks[order]
    k = len(methods)
    cliques = len(_cliques(ranks, f.critical_difference))

    layout = results.layout

    def draw(width: float) -> Figure:
        column = is_column(width)
        title = (f"{PROTOCOL_TITLES.get(protocol, protocol)}: average ranks over {f.n_datasets} data sets "
                 f"(Friedman p = {f.p_f:.2g}); bars join methods within Nemenyi's critical difference "
                 f"(α = {f.alpha})")
        if left_out:
            title += f"; not ranked (no value on every data set): {', '.join(map(layout.method_name, left_out))}"
        height = 0.16 * k + 1.4 if column else 1.4 + 0.16 * ((k + 1) // 2 + 0.3 * cliques + 3)
        fig = new_figure(width, height + 0.14 * wrap(title, width).count("\n"))
        (_ranked_list if column else _demsar)(fig, names, ranks, f)
        fig.suptitle(wrap(title, width))
        return fig

    return Plot(save_figure(draw, stem), "cd", np.arange(1, k + 1),
                {results.layout.method_name(m): np.array([r]) for m, r in zip(methods, f.average_ranks, strict=True)},
                panel=protocol)


def plot_cd_diagrams(results: Results, out: Path, metric: str = "balanced_accuracy") -> list[Plot]:
    """A diagram per protocol whose Friedman test rejects; a ``kind='note'`` record (a .txt) otherwise."""
    plots = []
    for protocol in PROTOCOLS:
        datasets, methods, left_out, f = protocol_friedman(results, protocol, metric)
        if not datasets:
            continue
        stem = out / f"cd_{safe_name(protocol)}"
        note = stem.with_suffix(".txt")
        if f is not None and f.p_f < f.alpha:
            plots.append(_draw(results, protocol, methods, left_out, f, stem))
            note.unlink(missing_ok=True)
        else:
            write_text_atomic(note, _note(results, protocol, datasets, methods, left_out, f))
            for stale in figure_files(stem):  # a diagram of earlier data no longer holds
                stale.unlink(missing_ok=True)
            plots.append(Plot(note, "note", np.array([]), panel=protocol))
    return plots
