"""LPG's learned per-class perturbation against each class's noise rate (``class_noise_<row>``).

On noisy rows whose flips depend on the class (``asym``, ``pair``), one panel per LPG row: every
seed's last-epoch per-class value (``a_c``, or ``tau_c`` for the clipped form) against that seed's
realised flip rate of the class (``class_noise_rate`` in the tidy curves), one colour per class,
with the seed mean of each class ringed (classes named in one legend, not beside the points, which
share a place wherever classes keep their labels). Pearson's r over all points is in the panel title: an
LPG that learns to perturb noisy classes differently shows a trend.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from lpg_meta.report.figure_style import is_column, legend, panel_grid, save_figure
from lpg_meta.report.plot_parts import Plot, label_quantity, panel_title, row_series, safe_name, wrap
from lpg_meta.report.tidy import NOISE_RATES, Results, class_curves, last_epoch

CLASS_DEPENDENT = ("asym", "pair")  # under symmetric noise every class has the same expected rate


def last_epoch_by_seed(results: Results, ds: str, m: str, name: str) -> dict[int, dict[int, float]]:
    """seed -> {class: value at the seed's last recorded epoch} of a per-epoch, per-class series."""
    return {seed: last_epoch(points) for (d, method, seed, series), points in results.curves.items()
            if (d, method, series) == (ds, m, name) and points}


def plot_class_noise(results: Results, out: Path) -> list[Plot]:
    """One figure per ``asym`` / ``pair`` row, a panel per row whose method declares a per-class series
    (LPG's); one :class:`Plot` per panel.

    A panel's ``x`` is the seed-mean flip rate of each class, ``series["class noise rate"]`` the
    same, ``series[<method row name>]`` the seed-mean last-epoch value; seeds lacking either series
    are left out.
    """
    plots = []
    for ds, info in results.layout.datasets.items():
        kind = ((info.get("config") or {}).get("data") or {}).get("noise")
        if results.layout.protocol(ds) != "noisy" or kind not in CLASS_DEPENDENT:
            continue
        panels = []
        for m, name, declared, quantity in class_curves(results, ds):
            values, rates = last_epoch_by_seed(results, ds, m, name), row_series(results, ds, m, NOISE_RATES)
            seeds = sorted(set(values) & set(rates))
            classes = sorted(set.intersection(*(set(values[s]) & set(rates[s]) for s in seeds))) if seeds else []
            if classes:
                x = np.array([[rates[s][c] for c in classes] for s in seeds])
                y = np.array([[values[s][c] for c in classes] for s in seeds])
                panels.append((m, quantity, classes, x, y, declared.figure_quantity))
        if not panels:
            continue
        stem = out / f"class_noise_{safe_name(ds)}"
        for m, _, _, x, y, _ in panels:
            plots.append(Plot(stem, "class_noise", x.mean(axis=0),
                              {"class noise rate": x.mean(axis=0), results.layout.method_name(m): y.mean(axis=0)},
                              panel=m))

        def draw(width: float, ds: str = ds, panels: list = panels) -> Figure:
            fig, axes = panel_grid(width, len(panels), 3, 1.75, 1.0 if is_column(width) else 0.7)
            cmap = colormaps["tab10"]
            for ax, (m, quantity, classes, x, y, _) in zip(axes.flat, panels, strict=False):
                for j, c in enumerate(classes):
                    color = cmap(j % 10)
                    ax.scatter(x[:, j], y[:, j], s=8, color=color, alpha=0.6, lw=0)
                    ax.scatter(x[:, j].mean(), y[:, j].mean(), s=30, facecolors="none", edgecolors=color, lw=1.0,
                               label=str(c))
                r = np.corrcoef(x.ravel(), y.ravel())[0, 1] if x.std() > 0 and y.std() > 0 else float("nan")
                label_quantity(ax, quantity, panels[0][5], "last-epoch ")
                ax.set_title(f"{panel_title(results, m)}\nn = {len(x)}, r = {r:.2f}")
                ax.set_xlabel("class flip rate")
            legend(fig, width, *axes.flat[0].get_legend_handles_labels(), columns=5, title="class",
                   handletextpad=0.1)
            fig.suptitle(wrap(f"{results.layout.dataset_name(ds)}: per-class perturbation against the class's "
                              "flip rate", width) + "\n" + wrap("dots: one seed each; rings: the seed mean; "
                                                                "r: Pearson's correlation over all dots", width))
            fig.supylabel(f"last-epoch {panels[0][5].label}")
            return fig

        save_figure(draw, stem)
    return plots
