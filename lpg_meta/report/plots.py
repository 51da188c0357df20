"""Figures of a results folder or ``runs.csv``, written as PDFs under ``<out>/plots/``.

Every figure ``<name>`` is written at two print widths, ``<name>_column.pdf`` (3.25 in) and
``<name>_text.pdf`` (6.75 in), each drawn by the figure's one function for that width
(``lpg_meta.report.figure_style``: sizes, fonts, each method's colour and marker).

1. ``per_class_<row>``: per-class test accuracy on long-tail rows, classes ordered by training
   count, mean ± std over seeds (error bars, no lines across categorical classes).
2. ``curves_<row>``: per-epoch test balanced accuracy, mean ± std band over seeds.
3. ``trajectory_<row>``: the learned per-class perturbation of LPG runs over epochs, mean ± std
   over seeds, a panel per row whose method declares a per-class series (LPG's) and whose value
   moves (a row constant over training is named, not drawn).
4. ``cd_<protocol>``: average ranks over a protocol's data set rows with Nemenyi's critical difference,
   drawn only where Friedman's test rejects (``lpg_meta.report.cd_diagram``).
5. ``noise_*``: test accuracy against noise rate where rows differ only in their noise rate.
6. ``weight_share_<row>``: on noisy rows, the reweighting methods' weight share on flipped samples.
7. ``class_noise_<row>``: on asym and pair rows, LPG's per-class perturbation against each class's
   flip rate (``lpg_meta.report.class_noise``).

Plots 1 and 2 show the reference (CE), LPG and the best three other rows of the data set by
mean, so the figure stays readable with 20 methods. Each function returns :class:`Plot`
records holding exactly the arrays it drew, so tests can check a figure against the data.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from lpg_meta.catalog.methods import PROPOSED, REFERENCE
from lpg_meta.report.cd_diagram import plot_cd_diagrams
from lpg_meta.report.class_noise import plot_class_noise
from lpg_meta.report.figure_style import (
    is_column,
    legend,
    method_colours,
    method_markers,
    new_figure,
    panel_grid,
    save_figure,
    style,
)
from lpg_meta.report.layout import _NOISE_NAMES
from lpg_meta.report.plot_parts import Plot, label_quantity, panel_title, row_series, safe_name, wrap
from lpg_meta.report.tidy import Results, class_curves

PLOTS_DIR = "plots"
SHOWN = 3  # best other rows drawn beside the reference and LPG
LEGEND_CLASSES = 10  # up to this many classes: a qualitative palette and a legend; beyond: a colour bar


def over_seeds(counts: list[int]) -> str:
    """How a figure's spread reads: ``mean ± std over 3 seeds`` (or ``3 to 10``), ``one seed`` without one."""
    low, high = min(counts, default=1), max(counts, default=1)
    if high <= 1:
        return "one seed (no spread)"
    return f"mean ± std over {low} seeds" if low == high else f"mean ± std over {low} to {high} seeds"


def shown_methods(results: Results, ds: str, metric: str = "balanced_accuracy") -> list[str]:
    """The reference baseline's rows (ce), the paper's method's (lpg), then the best ``SHOWN`` other rows by mean."""
    present = [m for m in results.layout.methods if results.get(ds, m, metric)]
    first = [m for m in present if results.layout.method_of(m) in (REFERENCE, PROPOSED)]
    others = sorted((m for m in present if m not in first),
                    key=lambda m: -float(np.mean(list(results.get(ds, m, metric).values()))))
    return first + others[:SHOWN]


def plot_per_class(results: Results, out: Path) -> list[Plot]:
    """Per-class test accuracy (%) on each long-tail row, classes by train count, mean ± std over seeds."""
    plots = []
    colours, markers = method_colours(results.layout), method_markers(results.layout)
    for ds in results.layout.datasets:
        if results.layout.protocol(ds) != "long-tail":
            continue
        methods = shown_methods(results, ds)
        counts = next((c for m in methods if (c := row_series(results, ds, m, "train_count"))), {})
        if not counts:
            continue
        count = next(iter(counts.values()))
        order = np.array(sorted(count, key=lambda c: (-count[c], c)))  # most frequent first, ties by label
        drawn, series, errors, seeds = [], {}, {}, []
        for m in methods:
            by_seed = row_series(results, ds, m, "per_class_accuracy")
            if not by_seed:
                continue
            values = 100.0 * np.array([[run.get(int(c), np.nan) for c in order] for run in by_seed.values()])
            mean = np.nanmean(values, axis=0)
            std = np.nanstd(values, axis=0, ddof=1) if len(values) > 1 else np.zeros_like(mean)
            name = results.layout.method_name(m)
            series[name], errors[name] = mean, std
            drawn.append((m, name))
            seeds.append(len(values))

        def draw(width: float, ds: str = ds, order: np.ndarray = order, count: dict = count,
                 drawn: list = drawn, series: dict = series, errors: dict = errors, seeds: list = seeds) -> Figure:
            fig = new_figure(width, 3.1 if is_column(width) else 2.5)
            ax = fig.add_subplot()
            dodge = 0.8 / max(1, len(drawn))
            for j, (m, name) in enumerate(drawn):
                x = np.arange(len(order)) - 0.4 + dodge * (j + 0.5)  # methods side by side in each class
                ax.errorbar(x, series[name], yerr=errors[name], fmt=markers[m], ms=3, capsize=1.5, lw=0.8,
                            label=name, color=colours[m])
            step = max(1, -(-len(order) // (10 if is_column(width) else 20)))  # tick labels that fit
            ax.set_xticks(np.arange(0, len(order), step))
            ax.set_xticklabels([f"{c}\n{int(count[c])}" for c in order[::step]])  # "(768)" would touch its neighbour
            ax.set(xlabel="class over its training samples, most frequent first", ylabel="class test accuracy (%)",
                   title=f"{results.layout.dataset_name(ds)}: per-class test accuracy\n{over_seeds(seeds)}")
            legend(fig, width, columns=3)
            return fig

        plots.append(Plot(save_figure(draw, out / f"per_class_{safe_name(ds)}"), "per_class", order, series, errors))
    return plots


def plot_curves(results: Results, out: Path, series_name: str = "test_balanced_accuracy") -> list[Plot]:
    """Per-epoch test balanced accuracy (%) per data set row: mean line and ± std band over seeds."""
    plots = []
    colours = method_colours(results.layout)
    for ds in results.layout.datasets:
        methods = [m for m in shown_methods(results, ds) if row_series(results, ds, m, series_name)]
        if not methods:
            continue
        series, errors, epochs, seeds = {}, {}, {}, []
        for m in methods:
            by_seed = row_series(results, ds, m, series_name)
            length = min(len(run) for run in by_seed.values())  # seeds that stopped early: common epochs only
            x = epochs[m] = np.array(sorted(next(iter(by_seed.values())))[:length])
            values = 100.0 * np.array([[run[e] for e in x] for run in by_seed.values()])
            name = results.layout.method_name(m)
            series[name] = values.mean(axis=0)
            errors[name] = values.std(axis=0, ddof=1) if len(values) > 1 else np.zeros(length)
            seeds.append(len(values))

        def draw(width: float, ds: str = ds, epochs: dict = epochs, series: dict = series,
                 errors: dict = errors, seeds: list = seeds) -> Figure:
            fig = new_figure(width, 3.0 if is_column(width) else 2.4)
            ax = fig.add_subplot()
            for m, x in epochs.items():
                name = results.layout.method_name(m)
                mean, std = series[name], errors[name]
                ax.plot(x, mean, color=colours[m], label=name)
                ax.fill_between(x, mean - std, mean + std, color=colours[m], alpha=0.18, lw=0)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set(xlabel="epoch", ylabel=f"test {series_name.removeprefix('test_').replace('_', ' ')} (%)",
                   title=f"{results.layout.dataset_name(ds)}\n{over_seeds(seeds)}")
            legend(fig, width)
            return fig

        plots.append(Plot(save_figure(draw, out / f"curves_{safe_name(ds)}"), "curves", x, series, errors))
    return plots


def _constant(stacked: np.ndarray) -> bool:
    """Whether every seed's every class keeps its first value over the epochs (nothing was learned)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return bool(np.all(np.nanmax(stacked, axis=1) == np.nanmin(stacked, axis=1)))


def plot_trajectories(results: Results, out: Path) -> list[Plot]:
    """One figure per data set row, a panel per LPG row: the seed-mean learned value of each class.

    A row whose value never moves (a fixed perturbation, or a threshold that was not learned) is
    named in the title instead of drawn as flat lines. Returns one :class:`Plot` per panel drawn
    (``panel`` names the method row), all with the figure's path.
    """
    plots = []
    for ds in results.layout.datasets:
        panels, constant = [], []
        for m, name, declared, quantity in class_curves(results, ds):
            by_seed = _series_grid(results, ds, m, name)
            length = min(g.shape[0] for g in by_seed)
            stacked = np.stack([g[:length] for g in by_seed])
            if _constant(stacked):
                constant.append(results.layout.method_name(m))
                continue
            spread = np.nanstd(stacked, axis=0, ddof=1) if len(by_seed) > 1 else None
            panels.append((m, quantity, np.nanmean(stacked, axis=0), spread, len(by_seed), declared.figure_quantity))
        if not panels:
            continue
        stem = out / f"trajectory_{safe_name(ds)}"
        classes = panels[0][2].shape[1]
        for m, _, mean, _, _, _ in panels:
            plots.append(Plot(stem, "trajectory", np.arange(1, len(mean) + 1),
                              {f"class {c}": mean[:, c] for c in range(mean.shape[1])}, panel=m))

        seeds = sorted({p[4] for p in panels})

        def draw(width: float, ds: str = ds, panels: list = panels, constant: list = constant,
                 classes: int = classes, seeds: list = seeds) -> Figure:
            fig, axes = panel_grid(width, len(panels), 4, 1.3, 1.1 if is_column(width) else 0.8)
            # Up to 10 classes: tab10, a distinct colour and a legend entry each; beyond: viridis by
            # class index with a colour bar (100 legend entries would hide the plot).
            few = classes <= LEGEND_CLASSES
            cmap = colormaps["tab10"] if few else colormaps["viridis"]
            for ax, (m, quantity, mean, spread, n, _) in zip(axes.flat, panels, strict=False):
                epochs = np.arange(1, len(mean) + 1)
                for c in range(mean.shape[1]):
                    color = cmap(c) if few else cmap(c / max(1, classes - 1))
                    ax.plot(epochs, mean[:, c], color=color, lw=1.0 if few else 0.5, label=str(c))
                    if spread is not None and few:  # ± std over seeds
                        ax.fill_between(epochs, mean[:, c] - spread[:, c], mean[:, c] + spread[:, c], color=color,
                                        alpha=0.12, lw=0)
                label_quantity(ax, quantity, panels[0][5])
                ax.set_title(panel_title(results, m) + (f"\nn = {n}" if len(seeds) > 1 else ""))  # n if they differ
                ax.set_xlabel("epoch")
                ax.xaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
            if few:
                legend(fig, width, *axes.flat[0].get_legend_handles_labels(), columns=10, title="class",
                       handlelength=1.0)
            else:
                from matplotlib.cm import ScalarMappable
                from matplotlib.colors import Normalize

                fig.colorbar(ScalarMappable(Normalize(0, classes - 1), colormaps["viridis"]), ax=axes,
                             label="class index", location="bottom" if is_column(width) else "right")
            title = wrap(f"{results.layout.dataset_name(ds)}: learned per-class perturbation", width)
            title += f"\n{over_seeds(seeds)}"
            if constant:
                title += "\n" + wrap(f"constant over training, not drawn: {', '.join(constant)}", width)
            fig.suptitle(title)
            fig.supylabel(panels[0][5].label)
            return fig

        save_figure(draw, stem)
    return plots


def _series_grid(results: Results, ds: str, m: str, name: str) -> list[np.ndarray]:
    """Per seed, an (epochs, classes) array of a per-epoch, per-class series."""
    grids = []
    for (d, method, _seed, series), points in sorted(results.curves.items()):
        if (d, method, series) != (ds, m, name):
            continue
        epochs = max(e for e, _, _ in points)
        classes = max(c for _, c, _ in points) + 1
        grid = np.full((epochs, classes), np.nan)
        for e, c, v in points:
            grid[e - 1, c] = v
        grids.append(grid)
    return grids


def _noise_family(config: dict) -> str:
    # Rows whose whole setting but the noise rate agrees form one curve.
    data = {k: v for k, v in (config.get("data") or {}).items() if k not in ("noise_rate", "noise_map")}
    return json.dumps([config.get("dataset"), config.get("model"), data], sort_keys=True, default=str)


def plot_noise(results: Results, out: Path) -> list[Plot]:
    """Test accuracy (%) against noise rate, one line per method, per family of noisy rows."""
    families: dict[str, dict[float, str]] = {}
    for ds, info in results.layout.datasets.items():
        data = (info.get("config") or {}).get("data") or {}
        if results.layout.protocol(ds) == "noisy":
            families.setdefault(_noise_family(info["config"]), {}).setdefault(float(data["noise_rate"]), ds)
    plots = []
    colours, markers = method_colours(results.layout), method_markers(results.layout)
    for family, rows in sorted(families.items()):
        if len(rows) < 2:
            continue
        rates = np.array(sorted(rows))
        dataset, _, data = json.loads(family)
        series, errors, drawn, seeds = {}, {}, [], []
        for m in results.layout.methods:
            cells = [list(results.get(rows[rate], m, "accuracy").values()) for rate in rates]
            if not any(cells):
                continue
            name = results.layout.method_name(m)
            series[name] = np.array([100.0 * np.mean(v) if v else np.nan for v in cells])
            errors[name] = np.array([100.0 * np.std(v, ddof=1) if len(v) > 1 else 0.0 for v in cells])
            drawn.append((m, name))
            seeds += [len(v) for v in cells if v]
        noise = _NOISE_NAMES.get(str(data.get("noise")), str(data.get("noise")))

        def draw(width: float, rows: dict = rows, rates: np.ndarray = rates, drawn: list = drawn,
                 series: dict = series, errors: dict = errors, seeds: list = seeds, noise: str = noise) -> Figure:
            fig = new_figure(width, 3.0 if is_column(width) else 2.4)
            ax = fig.add_subplot()
            for m, name in drawn:
                ax.errorbar(100.0 * rates, series[name], yerr=errors[name], marker=markers[m], ms=3, capsize=2,
                            label=name, color=colours[m])
            ax.set_xticks(100.0 * rates)  # only the rates that were run
            ax.set(xlabel=f"{noise} noise rate (%)", ylabel="test accuracy (%)",
                   title=f"{results.layout.dataset_name(rows[rates[0]]).partition(' (')[0]}\n{over_seeds(seeds)}")
            legend(fig, width)
            return fig

        name = "_".join(("noise", safe_name(str(dataset)), safe_name(str(data.get("noise"))),
                         safe_name("-".join(rows.values()))))
        plots.append(Plot(save_figure(draw, out / name[:150]), "noise", rates, series, errors))
    return plots


def plot_weight_share(results: Results, out: Path) -> list[Plot]:
    """Per noisy row: the share of the reweighting methods' weight on flipped samples, per epoch.

    One line per method row (mean over seeds, ± std band where more than one seed ran) and the
    row's noise rate dashed: a method that tells flipped samples apart stays below it. The right
    panel is the clean-vs-flipped weight AUC (0.5 = no separation).
    """
    plots = []
    colours = method_colours(results.layout)
    for ds, info in results.layout.datasets.items():
        drawn: dict[str, dict[str, tuple[np.ndarray, np.ndarray | None]]] = {}
        for m in results.layout.methods:
            for name in ("flipped_weight_share", "weight_auc_clean_vs_flipped"):
                by_seed = row_series(results, ds, m, name)
                if by_seed:
                    epochs = max(max(v) for v in by_seed.values())
                    grid = np.array([[v.get(e, np.nan) for e in range(1, epochs + 1)] for v in by_seed.values()],
                                    dtype=float)
                    with warnings.catch_warnings():  # an epoch no seed has a value for stays a gap (NaN)
                        warnings.simplefilter("ignore", RuntimeWarning)
                        spread = np.nanstd(grid, axis=0, ddof=1) if len(grid) > 1 else None
                        drawn.setdefault(name, {})[m] = (np.nanmean(grid, axis=0), spread)
        shares = drawn.get("flipped_weight_share", {})
        if not shares:
            continue
        rate = ((info.get("config") or {}).get("data") or {}).get("noise_rate")
        seeds = [len(row_series(results, ds, m, "flipped_weight_share")) for m in shares]

        def draw(width: float, ds: str = ds, drawn: dict = drawn, rate: float | None = rate,
                 seeds: list = seeds) -> Figure:
            column = is_column(width)
            fig = new_figure(width, 4.6 if column else 2.6)
            left, right = fig.subplots(2, 1, sharex=True) if column else fig.subplots(1, 2)
            for ax, name in ((left, "flipped_weight_share"), (right, "weight_auc_clean_vs_flipped")):
                for m, (mean, spread) in drawn.get(name, {}).items():
                    epochs = np.arange(1, len(mean) + 1)
                    ax.plot(epochs, mean, color=colours[m], label=results.layout.method_name(m))
                    if spread is not None:
                        ax.fill_between(epochs, mean - spread, mean + spread, color=colours[m], alpha=0.15, lw=0)
            if rate:
                left.axhline(rate, color="grey", ls="--", lw=0.8, label="noise rate")
            right.axhline(0.5, color="grey", ls="--", lw=0.8)
            left.set(xlabel="" if column else "epoch", ylabel="weight share on flipped samples")
            right.set(xlabel="epoch", ylabel="weight AUC, clean vs flipped\n(0.5: no separation)")
            legend(fig, width, *left.get_legend_handles_labels())
            fig.suptitle(f"{results.layout.dataset_name(ds)}: meta-reweighting on flipped labels\n"
                         f"{over_seeds(seeds)}")
            return fig

        path = save_figure(draw, out / f"weight_share_{safe_name(ds)}")
        plots.append(Plot(path, "weight_share", np.arange(1, max(len(v[0]) for v in shares.values()) + 1),
                          {results.layout.method_name(m): v[0] for m, v in shares.items()}))
    return plots


def make_plots(results: Results, out: str | Path) -> list[Plot]:
    """Every plot that applies, written to ``<out>/plots/``."""
    folder = Path(out) / PLOTS_DIR
    with style():
        return (plot_per_class(results, folder) + plot_curves(results, folder) + plot_trajectories(results, folder)
                + plot_noise(results, folder) + plot_cd_diagrams(results, folder)
                + plot_weight_share(results, folder) + plot_class_noise(results, folder))


def write_plots(results: Results, out: str | Path) -> list[Path]:
    """Write the plots and return their files: each figure's PDFs, or the note written instead."""
    plots = make_plots(results, out)
    return [file for plot in {plot.path: plot for plot in plots}.values() for file in plot.files]  # panels share one
