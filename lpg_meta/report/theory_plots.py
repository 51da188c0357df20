"""The theory report's figures, ``plots/theory_*`` at both print widths (``figure_style``).

1. ``theory_bound_<row>``: the PAC-Bayes bound of every run against its test error, a colour and
   marker per method; where the bound is vacuous, its KL term (log axis) instead.
2. ``theory_amp_<covariate>_<row>``: LPG's typical gradient amplification of each class and seed
   against the class's training count (long-tail, log axis) or its realised noise rate; a log
   amplification axis where the values span an order of magnitude or more.

Each point is one run (or one class of one run), so the spread over seeds is the scatter itself.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from lpg_meta.report.figure_style import (
    figure_files,
    is_column,
    legend,
    method_colours,
    method_markers,
    new_figure,
    save_figure,
)
from lpg_meta.report.plot_parts import safe_name
from lpg_meta.report.theory import LABEL_NOISE_RATE, NOISE_RATE, TRAIN_COUNT, BoundRow
from lpg_meta.report.theory_render import AGAINST, CorrelationRow, Theory, _f
from lpg_meta.report.tidy import PAC_BAYES, Results

FILE_NAMES = {TRAIN_COUNT: "count", NOISE_RATE: "noise", LABEL_NOISE_RATE: "label_noise"}


def plot_bounds(results: Results, theory: Theory, folder: Path) -> list[Path]:
    """A figure per data set row: every run's bound (or, where vacuous, KL term) against its test error."""
    return [file for b in theory.bounds
            for file in figure_files(save_figure(lambda width, b=b: _bound_figure(results, b, width),
                                                 folder / f"theory_bound_{safe_name(b.dataset)}"))]


def _bound_figure(results: Results, b: BoundRow, width: float) -> Figure:
    colours, markers = method_colours(results.layout), method_markers(results.layout)
    methods = list(dict.fromkeys(r[0] for r in b.runs))
    column = is_column(width)
    rows = -(-len(methods) // 2)  # legend rows: two columns, below the axes or beside them
    fig = new_figure(width, 2.3 + 0.13 * rows if column else max(2.6, 0.13 * rows + 0.4))
    ax = fig.add_subplot()
    for m in methods:
        if b.vacuous:  # the bound's last digits order nothing: its KL term is what can rank the runs
            kl = results.get(b.dataset, m, "kl", PAC_BAYES)
            pts = np.array([(r[3], kl[r[1]]) for r in b.runs if r[0] == m and r[1] in kl]).reshape(-1, 2)
        else:
            pts = np.array([(r[3], r[2]) for r in b.runs if r[0] == m])
        ax.scatter(pts[:, 0], pts[:, 1], color=colours.get(m), marker=markers.get(m, "o"), s=10, lw=0,
                   label=results.layout.method_name(m))
    name = results.layout.dataset_name(b.dataset)
    if b.vacuous:
        ax.set_yscale("log")
        ax.set(ylabel="KL term (nats)", title=f"{name}: a point per run\nbound vacuous; KL: τ over methods "
                                              f"{_f(b.tau_kl)}")
    else:
        ax.set(ylabel="PAC-Bayes bound", title=f"{name}: a point per run\nτ over methods {_f(b.tau_methods)}")
        ax.ticklabel_format(axis="y", useOffset=False)
    ax.set_xlabel("test error")
    legend(fig, width, markerscale=1.2, handletextpad=0.2, **({} if column else {"ncols": 2}))
    return fig


def plot_amplification(results: Results, theory: Theory, folder: Path) -> list[Path]:
    """A figure per data set row and covariate: each class's typical amplification against the covariate."""
    files = []
    for ds, covariate in dict.fromkeys((r.data.dataset, r.data.covariate) for r in theory.correlations):
        rows = [r for r in theory.correlations if (r.data.dataset, r.data.covariate) == (ds, covariate)]
        stem = folder / f"theory_amp_{FILE_NAMES[covariate]}_{safe_name(ds)}"
        files += figure_files(save_figure(lambda width, rows=rows: _amplification_figure(results, rows, width),
                                          stem))
    return files


def _amplification_figure(results: Results, rows: list[CorrelationRow], width: float) -> Figure:
    colours, markers = method_colours(results.layout), method_markers(results.layout)
    data = rows[0].data
    fig = new_figure(width, 3.4 if is_column(width) else 2.6)
    ax = fig.add_subplot()
    for r in rows:
        label = f"{results.layout.method_name(r.data.method)} ($r_s$ = {_f(r.typical.rho)})"
        ax.scatter(r.data.x.ravel(), r.data.typical_amp.ravel(), color=colours.get(r.data.method),
                   marker=markers.get(r.data.method, "o"), s=12, lw=0, label=label)
    ax.axhline(1.0, color="grey", lw=0.8, ls="--")  # 1: the gradient left as it is
    tail = rows[0].half == "tail"
    if tail:
        ax.set_xscale("log")
    amps = np.concatenate([r.data.typical_amp.ravel() for r in rows])
    amps = amps[amps > 0]
    if len(amps) and amps.max() / amps.min() > 10:  # spans an order of magnitude or more
        ax.set_yscale("log")
    ax.set(xlabel=f"{AGAINST[data.covariate]} of the class" + ("" if tail else ", realised"),
           ylabel="typical amplification ‖g̃‖/‖g‖",
           title=f"{results.layout.dataset_name(data.dataset)}: a point per class and seed")
    legend(fig, width, markerscale=1.5, handletextpad=0.2)
    return fig
