"""Figures of a results folder or ``runs.csv``, written as PDF and PNG under ``<out>/plots/``.

1. ``per_class_<row>``: per-class test accuracy on long-tail rows, classes ordered by training
   count, mean ± std over seeds (error bars, no lines across categorical classes).
2. ``curves_<row>``: per-epoch test balanced accuracy, mean ± std band over seeds.
3. ``trajectory_<row>``: the learned per-class perturbation of LPG runs over epochs, a panel per LPG row.
4. ``cd_<protocol>``: average ranks over a protocol's data set rows with Nemenyi's critical difference,
   drawn only where Friedman's test rejects (``lpg_meta.report.cd_diagram``).
5. ``noise_*``: test accuracy against noise rate where rows differ only in their noise rate.
6. ``weight_share_<row>``: on noisy rows, the reweighting methods' weight share on flipped samples.
7. ``class_noise_<row>``: on asym and pair rows, LPG's per-class perturbation against each class's
   flip rate (``lpg_meta.report.class_noise``).

Plots 1 and 2 show the reference (CE), LPG and the best three other rows of the data set by
mean, so the figure stays readable with 20 methods. Sizes, fonts and each method's colour are
``lpg_meta.report.figure_style``'s. Each function returns :class:`Plot`
records holding exactly the arrays it drew, so tests can check a figure against the data.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from lpg_meta.report.figure_style import COLUMN_IN, TEXT_IN, method_colours, style
from lpg_meta.report.tidy import Results
from lpg_meta.results import write_atomic

PLOTS_DIR = "plots"
SHOWN = 3  # best other rows drawn beside the reference and LPG
LEGEND_CLASSES = 10  # up to this many classes: a qualitative palette and a legend; beyond: a colour bar
QUANTITIES = {"a_c": "learned per-class perturbation $a_c$", "tau_c": "clip threshold $\\tau_c$"}


@dataclass(frozen=True)
class Plot:
    """A written figure (PNG; a PDF beside it) and the data drawn: ``series[label]`` against ``x``."""

    path: Path
    kind: str
    x: np.ndarray
    series: dict[str, np.ndarray] = field(default_factory=dict)
    errors: dict[str, np.ndarray] = field(default_factory=dict)
    panel: str = ""  # the method row of one panel, where a figure has several


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "x"


def _figure(width: float = TEXT_IN, height: float = 3.0) -> tuple[Figure, object]:
    # A bare Figure with an Agg canvas: no pyplot, so no global backend switch and no GUI.
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _save(fig: Figure, path: Path) -> Path:
    """Write ``path`` (.png) and the same figure as .pdf, each atomically; no dates or versions, so same
    data, same bytes."""
    with style():  # TrueType fonts in the PDF
        write_atomic(path, lambda handle: fig.savefig(handle, format="png", dpi=150, metadata={"Software": None}))
        write_atomic(path.with_suffix(".pdf"), lambda handle: fig.savefig(
            handle, format="pdf", metadata={"CreationDate": None, "Producer": None, "Creator": None}))
    return path


def _series(results: Results, ds: str, m: str, name: str) -> dict[int, dict[int, float]]:
    """seed -> {epoch or class: value} of one curve series."""
    out: dict[int, dict[int, float]] = {}
    for (d, method, seed, series), points in results.curves.items():
        if (d, method, series) == (ds, m, name):
            out[seed] = {(e if e is not None else c): v for e, c, v in points}
    return out


def shown_methods(results: Results, ds: str, metric: str = "balanced_accuracy") -> list[str]:
    """The reference (ce), every ``lpg`` row, then the best ``SHOWN`` other rows by mean."""
    present = [m for m in results.layout.methods if results.get(ds, m, metric)]
    method_of = {m: str(results.layout.methods[m].get("method") or m) for m in present}
    first = [m for m in present if method_of[m] in ("ce", "lpg")]
    others = sorted((m for m in present if m not in first),
                    key=lambda m: -float(np.mean(list(results.get(ds, m, metric).values()))))
    return first + others[:SHOWN]


def plot_per_class(results: Results, out: Path) -> list[Plot]:
    """Per-class test accuracy (%) on each long-tail row, classes by train count, mean ± std over seeds."""
    plots = []
    for ds in results.layout.datasets:
        if results.layout.protocol(ds) != "long-tail":
            continue
        methods = shown_methods(results, ds)
        counts = next((c for m in methods if (c := _series(results, ds, m, "train_count"))), {})
        if not counts:
            continue
        count = next(iter(counts.values()))
        classes = sorted(count)
        order = np.array(sorted(classes, key=lambda c: (-count[c], c)))  # most frequent first, ties by label
        fig, ax = _figure(TEXT_IN, 2.8)
        colours = method_colours(results.layout)
        series, errors = {}, {}
        width = 0.8 / max(1, len(methods))
        for j, m in enumerate(methods):
            by_seed = _series(results, ds, m, "per_class_accuracy")
            if not by_seed:
                continue
            values = 100.0 * np.array([[run.get(int(c), np.nan) for c in order] for run in by_seed.values()])
            mean = np.nanmean(values, axis=0)
            std = np.nanstd(values, axis=0, ddof=1) if len(values) > 1 else np.zeros_like(mean)
            name = results.layout.method_name(m)
            series[name], errors[name] = mean, std
            x = np.arange(len(order)) - 0.4 + width * (j + 0.5)  # dodge: methods side by side in each class
            ax.errorbar(x, mean, yerr=std, fmt="o", ms=3, capsize=1.5, lw=0.8, label=name, color=colours[m])
        step = max(1, -(-len(order) // 20))  # at most 20 tick labels across the text width
        ax.set_xticks(np.arange(0, len(order), step))
        ax.set_xticklabels([f"{c}\n({int(count[c])})" for c in order[::step]])
        ax.set(xlabel="class (training samples), most frequent first", ylabel="class test accuracy (%)",
               title=f"{results.layout.dataset_name(ds)}: per-class test accuracy, mean ± std over seeds")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        plots.append(Plot(_save(fig, out / f"per_class_{_safe(ds)}.png"), "per_class", order, series, errors))
    return plots


def plot_curves(results: Results, out: Path, series_name: str = "test_balanced_accuracy") -> list[Plot]:
    """Per-epoch test balanced accuracy (%) per data set row: mean line and ± std band over seeds."""
    plots = []
    colours = method_colours(results.layout)
    for ds in results.layout.datasets:
        methods = [m for m in shown_methods(results, ds) if _series(results, ds, m, series_name)]
        if not methods:
            continue
        fig, ax = _figure(COLUMN_IN, 3.0)
        series, errors = {}, {}
        x = np.array([])
        for m in methods:
            by_seed = _series(results, ds, m, series_name)
            length = min(len(run) for run in by_seed.values())  # seeds that stopped early: common epochs only
            epochs = np.array(sorted(next(iter(by_seed.values())))[:length])
            values = 100.0 * np.array([[run[e] for e in epochs] for run in by_seed.values()])
            mean = values.mean(axis=0)
            std = values.std(axis=0, ddof=1) if len(values) > 1 else np.zeros_like(mean)
            name = results.layout.method_name(m)
            series[name], errors[name], x = mean, std, epochs
            ax.plot(epochs, mean, color=colours[m], label=name)
            ax.fill_between(epochs, mean - std, mean + std, color=colours[m], alpha=0.18, lw=0)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set(xlabel="epoch", ylabel=f"test {series_name.removeprefix('test_').replace('_', ' ')} (%)",
               title=f"{results.layout.dataset_name(ds)}\nmean ± std over seeds")
        fig.legend(loc="outside lower center", ncol=2, frameon=False)
        plots.append(Plot(_save(fig, out / f"curves_{_safe(ds)}.png"), "curves", x, series, errors))
    return plots


def plot_trajectories(results: Results, out: Path) -> list[Plot]:
    """One figure per data set row, a panel per LPG row: the seed-mean learned value of each class.

    Returns one :class:`Plot` per panel (``panel`` names the method row), all with the figure's path.
    """
    plots = []
    for ds in results.layout.datasets:
        panels = lpg_panels(results, ds)
        if not panels:
            continue
        fig, axes = panel_figure(len(panels), 4, (1.25, 0.6))
        path = out / f"trajectory_{_safe(ds)}.png"
        classes = 0
        for ax, (m, name) in zip(axes.flat, panels, strict=False):
            by_seed = _series_grid(results, ds, m, name)
            length = min(g.shape[0] for g in by_seed)
            stacked = np.stack([g[:length] for g in by_seed])
            mean = np.nanmean(stacked, axis=0)
            spread = np.nanstd(stacked, axis=0, ddof=1) if len(by_seed) > 1 else None
            epochs = np.arange(1, length + 1)
            classes = mean.shape[1]
            # Up to 10 classes: tab10, a distinct colour and a legend entry each; beyond: viridis by
            # class index with a colour bar (100 legend entries would hide the plot).
            cmap = colormaps["tab10"] if classes <= LEGEND_CLASSES else colormaps["viridis"]
            series = {}
            for c in range(classes):
                series[f"class {c}"] = mean[:, c]
                color = cmap(c) if classes <= LEGEND_CLASSES else cmap(c / (classes - 1))
                ax.plot(epochs, mean[:, c], color=color, lw=1.0 if classes <= LEGEND_CLASSES else 0.5,
                        label=f"class {c}")
                if spread is not None and classes <= LEGEND_CLASSES:  # ± std over seeds
                    ax.fill_between(epochs, mean[:, c] - spread[:, c], mean[:, c] + spread[:, c], color=color,
                                    alpha=0.12, lw=0)
            ax.axhline(0.0, color="grey", lw=0.7, ls="--")
            quantity = name.removeprefix("lpg_")
            title = f"{results.layout.method_name(m)}, n = {len(by_seed)}"
            ax.set_title(title.replace(" (", "\n(", 1) if len(title) > 22 else title)  # a panel is 1.5 in wide
            ax.set_xlabel("epoch")
            if quantity != "a_c":  # a_c is the figure's y label; another quantity names its own panel
                ax.set_ylabel(QUANTITIES.get(quantity, quantity))
            ax.xaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
            plots.append(Plot(path, "trajectory", epochs, series, panel=m))
        for ax in list(axes.flat)[len(panels):]:
            ax.axis("off")
        if classes <= LEGEND_CLASSES:
            handles, labels = axes.flat[0].get_legend_handles_labels()
            fig.legend(handles, labels, loc="outside right upper", frameon=False, title="class")
        else:
            from matplotlib.cm import ScalarMappable
            from matplotlib.colors import Normalize

            fig.colorbar(ScalarMappable(Normalize(0, classes - 1), colormaps["viridis"]), ax=axes,
                         label="class index")
        fig.suptitle(f"{results.layout.dataset_name(ds)}: learned per-class perturbation over training, "
                     "mean ± std over n seeds")
        fig.supylabel(QUANTITIES["a_c"])
        _save(fig, path)
    return plots


def lpg_panels(results: Results, ds: str) -> list[tuple[str, str]]:
    """``(method row, series)`` of every LPG series (``lpg_<quantity>``) of a data set row, in row order."""
    order = {m: i for i, m in enumerate(results.layout.methods)}
    return sorted({(m, s) for d, m, _, s in results.curves if d == ds and s.startswith("lpg_")},
                  key=lambda k: order.get(k[0], len(order)))


def panel_figure(panels: int, max_columns: int, height: tuple[float, float]) -> tuple[Figure, np.ndarray]:
    """``panels`` axes in rows of up to ``max_columns``: one column wide for one panel, else the text
    width; ``height`` is per row plus a margin (inches)."""
    columns = min(max_columns, panels)
    rows = -(-panels // columns)
    fig = Figure(figsize=(COLUMN_IN if columns == 1 else TEXT_IN, height[0] * rows + height[1]), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(rows, columns, squeeze=False)


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
    for family, rows in sorted(families.items()):
        if len(rows) < 2:
            continue
        rates = np.array(sorted(rows))
        dataset, _, data = json.loads(family)
        fig, ax = _figure(COLUMN_IN, 3.0)
        colours = method_colours(results.layout)
        series, errors = {}, {}
        for m in results.layout.methods:
            cells = [list(results.get(rows[rate], m, "accuracy").values()) for rate in rates]
            if not any(cells):
                continue
            name = results.layout.method_name(m)
            series[name] = np.array([100.0 * np.mean(v) if v else np.nan for v in cells])
            errors[name] = np.array([100.0 * np.std(v, ddof=1) if len(v) > 1 else 0.0 for v in cells])
            ax.errorbar(100.0 * rates, series[name], yerr=errors[name], marker="o", ms=3, capsize=2, label=name,
                        color=colours[m])
        ax.set_xticks(100.0 * rates)  # only the rates that were run
        ax.set(xlabel=f"{data.get('noise')} noise rate (%)", ylabel="test accuracy (%)",
               title=f"{results.layout.dataset_name(rows[rates[0]]).partition(' (')[0]}: mean ± std over seeds")
        fig.legend(loc="outside lower center", ncol=2, frameon=False)
        name = f"noise_{_safe(str(dataset))}_{_safe(str(data.get('noise')))}_{_safe('-'.join(rows.values()))}"
        plots.append(Plot(_save(fig, out / f"{name[:150]}.png"), "noise", rates, series, errors))
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
                by_seed = _series(results, ds, m, name)
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
        fig = Figure(figsize=(TEXT_IN, 2.6), layout="constrained")
        FigureCanvasAgg(fig)
        left, right = fig.subplots(1, 2)
        for ax, name in ((left, "flipped_weight_share"), (right, "weight_auc_clean_vs_flipped")):
            for m, (mean, spread) in drawn.get(name, {}).items():
                epochs = np.arange(1, len(mean) + 1)
                ax.plot(epochs, mean, color=colours[m], label=results.layout.method_name(m))
                if spread is not None:
                    ax.fill_between(epochs, mean - spread, mean + spread, color=colours[m], alpha=0.15, lw=0)
        rate = ((info.get("config") or {}).get("data") or {}).get("noise_rate")
        if rate:
            left.axhline(rate, color="grey", ls="--", lw=0.8, label="noise rate")
        right.axhline(0.5, color="grey", ls="--", lw=0.8)
        left.set(xlabel="epoch", ylabel="weight share on flipped samples", title="weight share")
        right.set(xlabel="epoch", ylabel="AUC, clean vs flipped", title="weight AUC (0.5: none)")
        fig.legend(*left.get_legend_handles_labels(), loc="outside right upper", frameon=False)
        fig.suptitle(f"{results.layout.dataset_name(ds)}: meta-reweighting on flipped labels\nmean ± std over seeds")
        path = _save(fig, out / f"weight_share_{_safe(ds)}.png")
        plots.append(Plot(path, "weight_share", np.arange(1, max(len(v[0]) for v in shares.values()) + 1),
                          {results.layout.method_name(m): v[0] for m, v in shares.items()}))
    return plots


def make_plots(results: Results, out: str | Path) -> list[Plot]:
    """Every plot that applies, written to ``<out>/plots/``."""
    from lpg_meta.report.cd_diagram import plot_cd_diagrams  # they draw with this module's helpers
    from lpg_meta.report.class_noise import plot_class_noise

    folder = Path(out) / PLOTS_DIR
    with style():
        return (plot_per_class(results, folder) + plot_curves(results, folder) + plot_trajectories(results, folder)
                + plot_noise(results, folder) + plot_cd_diagrams(results, folder)
                + plot_weight_share(results, folder) + plot_class_noise(results, folder))


def write_plots(results: Results, out: str | Path) -> list[Path]:
    """Write the plots and return their paths (PNG and PDF)."""
    plots = make_plots(results, out)
    paths = dict.fromkeys(plot.path for plot in plots)  # panels share a figure
    notes = {plot.path for plot in plots if plot.kind == "note"}  # a text in place of a figure
    return [p for path in paths for p in ((path,) if path in notes else (path, path.with_suffix(".pdf")))]
