"""Critical-difference diagrams (Demšar 2006), one per protocol: ``plots/cd_<protocol>``.

Average ranks are taken over the protocol's data set rows, among the methods with a value on every
one of them (a rank needs the whole block); the methods left out are named. The diagram is drawn
only where Friedman's test (Iman and Davenport's F form) rejects at α: without that, the Nemenyi
bars would suggest structure the data do not show, so ``cd_<protocol>.txt`` says why none was
drawn instead.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lpg_meta.report.figure_style import TEXT_IN
from lpg_meta.report.layout import METRIC_INFO, PROTOCOL_TITLES, PROTOCOLS
from lpg_meta.report.plots import Plot, _figure, _safe, _save
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


def _draw(results: Results, protocol: str, methods: list[str], left_out: list[str], f: Friedman,
          path: Path) -> Plot:
    ranks = f.average_ranks
    order = np.argsort(ranks, kind="stable")  # best (lowest rank) first
    k = len(methods)
    sorted_ranks = ranks[order]
    # Cliques: maximal runs of methods whose rank spread is below CD (not significantly different).
    cliques: list[tuple[int, int]] = []
    for a in range(k):
        b = max(i for i in range(a, k) if sorted_ranks[i] - sorted_ranks[a] < f.critical_difference)
        if b > a and not any(a >= s and b <= e for s, e in cliques):
            cliques.append((a, b))
    half = (k + 1) // 2
    first_label = -0.9 - 0.3 * len(cliques)  # labels start below the clique bars
    fig, ax = _figure(TEXT_IN, 1.4 + 0.16 * (half + 0.3 * len(cliques) + 3))
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
    beyond = " (wider than the rank range: no two methods differ)" if f.critical_difference > k - 1 else ""
    ax.text(1 + cd / 2, 1.2, f"CD = {f.critical_difference:.2f}{beyond}", ha="center", va="bottom")
    for i, j in enumerate(order):  # the best half labelled on the right, the worst half on the left
        right = i < half
        y = first_label - (i if right else k - 1 - i)
        x_end = 0.5 if right else k + 0.5
        ax.plot([ranks[j], ranks[j], x_end], [0, y, y], color="black", lw=0.7)
        ax.text(x_end - 0.05 if right else x_end + 0.05, y,
                f"{results.layout.method_name(methods[j])} ({ranks[j]:.2f})",
                ha="left" if right else "right", va="center")
    for n, (a, b) in enumerate(cliques):
        y = -0.45 - 0.3 * n
        ax.plot([sorted_ranks[a] - 0.05, sorted_ranks[b] + 0.05], [y, y], color="black", lw=2.5)
    title = (f"{PROTOCOL_TITLES.get(protocol, protocol)}: average ranks over {f.n_datasets} data sets "
             f"(Friedman p = {f.p_f:.2g})\nbars join methods within Nemenyi's critical difference (α = {f.alpha})")
    if left_out:
        title += f"\nnot ranked (no value on every data set): {', '.join(map(results.layout.method_name, left_out))}"
    ax.set_title(title)
    return Plot(_save(fig, path), "cd", np.arange(1, k + 1),
                {results.layout.method_name(m): np.array([r]) for m, r in zip(methods, ranks, strict=True)},
                panel=protocol)


def plot_cd_diagrams(results: Results, out: Path, metric: str = "balanced_accuracy") -> list[Plot]:
    """A diagram per protocol whose Friedman test rejects; a ``kind='note'`` record (a .txt) otherwise."""
    plots = []
    for protocol in PROTOCOLS:
        datasets, methods, left_out, f = protocol_friedman(results, protocol, metric)
        if not datasets:
            continue
        path = out / f"cd_{_safe(protocol)}.png"
        if f is not None and f.p_f < f.alpha:
            plots.append(_draw(results, protocol, methods, left_out, f, path))
            path.with_suffix(".txt").unlink(missing_ok=True)
        else:
            note = path.with_suffix(".txt")
            write_text_atomic(note, _note(results, protocol, datasets, methods, left_out, f))
            for stale in (path, path.with_suffix(".pdf")):  # a diagram of earlier data no longer holds
                stale.unlink(missing_ok=True)
            plots.append(Plot(note, "note", np.array([]), panel=protocol))
    return plots
