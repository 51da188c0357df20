"""Figures of a results folder or ``runs.csv``, written as PDF and PNG under ``<out>/plots/``.

1. ``per_class_<row>``: per-class test accuracy on long-tail rows, classes ordered by training
   count, mean ± std over seeds (error bars, no lines across categorical classes).
2. ``curves_<row>``: per-epoch test balanced accuracy, mean ± std band over seeds.
3. ``trajectory_<row>``: the learned per-class perturbation of LPG runs over epochs, a panel per LPG row.
4. ``cd_diagram``: average ranks over every data set row with Nemenyi's critical difference.
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
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from lpg_meta.report.claims import suite_friedman
from lpg_meta.report.tidy import Results
from lpg_meta.results import write_atomic

PLOTS_DIR = "plots"
SHOWN = 3  # best other rows drawn beside the reference and LPG
LEGEND_CLASSES = 10  # up to this many classes: a qualitative palette and a legend; beyond: a colour bar
QUANTITIES = {"a_c": "learned per-class perturbation $a_c$", "tau_c": "learned clip threshold $\\tau_c$"}


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


def _figure(width: float = 7.0, height: float = 4.0) -> tuple[Figure, object]:
    # A bare Figure with an Agg canvas: no pyplot, so no global backend switch and no GUI.
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _save(fig: Figure, path: Path) -> Path:
    """Write ``path`` (.png) and the same figure as .pdf, each atomically; no dates or versions, so same
    data, same bytes."""
    write_atomic(path, lambda handle: fig.savefig(handle, format="png", dpi=110, metadata={"Software": None}))
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
        fig, ax = _figure(max(7.0, 0.45 * len(order)), 4.0)
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
            ax.errorbar(x, mean, yerr=std, fmt="o", ms=3.5, capsize=2, lw=1, label=name)
        ax.set_xticks(np.arange(len(order)))
        ax.set_xticklabels([f"{c}\n({int(count[c])})" for c in order], fontsize=7)
        ax.set(xlabel="class (training samples), most frequent first", ylabel="test accuracy of the class (%)",
               title=f"{results.layout.dataset_name(ds)}: per-class test accuracy, mean ± std over seeds")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        plots.append(Plot(_save(fig, out / f"per_class_{_safe(ds)}.png"), "per_class", order, series, errors))
    return plots


def plot_curves(results: Results, out: Path, series_name: str = "test_balanced_accuracy") -> list[Plot]:
    """Per-epoch test balanced accuracy (%) per data set row: mean line and ± std band over seeds."""
    plots = []
    palette = colormaps["tab10"]
    for ds in results.layout.datasets:
        methods = [m for m in shown_methods(results, ds) if _series(results, ds, m, series_name)]
        if not methods:
            continue
        fig, ax = _figure(7.5, 4.0)
        series, errors = {}, {}
        x = np.array([])
        for j, m in enumerate(methods):
            by_seed = _series(results, ds, m, series_name)
            length = min(len(run) for run in by_seed.values())  # seeds that stopped early: common epochs only
            epochs = np.array(sorted(next(iter(by_seed.values())))[:length])
            values = 100.0 * np.array([[run[e] for e in epochs] for run in by_seed.values()])
            mean = values.mean(axis=0)
            std = values.std(axis=0, ddof=1) if len(values) > 1 else np.zeros_like(mean)
            name = results.layout.method_name(m)
            series[name], errors[name], x = mean, std, epochs
            ax.plot(epochs, mean, color=palette(j), lw=1.5, label=name)
            ax.fill_between(epochs, mean - std, mean + std, color=palette(j), alpha=0.18, lw=0)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set(xlabel="epoch", ylabel=f"test {series_name.removeprefix('test_').replace('_', ' ')} (%)",
               title=f"{results.layout.dataset_name(ds)}: learning curves, mean ± std over seeds")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
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
        fig, axes = panel_figure(len(panels), 4, (3.1, 1.3), (2.5, 0.7))
        path = out / f"trajectory_{_safe(ds)}.png"
        classes = 0
        for ax, (m, name) in zip(axes.flat, panels, strict=False):
            by_seed = _series_grid(results, ds, m, name)
            length = min(g.shape[0] for g in by_seed)
            mean = np.nanmean(np.stack([g[:length] for g in by_seed]), axis=0)
            epochs = np.arange(1, length + 1)
            classes = mean.shape[1]
            # Up to 10 classes: tab10, a distinct colour and a legend entry each; beyond: viridis by
            # class index with a colour bar (100 legend entries would hide the plot).
            cmap = colormaps["tab10"] if classes <= LEGEND_CLASSES else colormaps["viridis"]
            series = {}
            for c in range(classes):
                series[f"class {c}"] = mean[:, c]
                color = cmap(c) if classes <= LEGEND_CLASSES else cmap(c / (classes - 1))
                ax.plot(epochs, mean[:, c], color=color, lw=1.1 if classes <= LEGEND_CLASSES else 0.5,
                        label=f"class {c}")
            ax.axhline(0.0, color="grey", lw=0.7, ls="--")
            quantity = name.removeprefix("lpg_")
            ax.set_title(f"{results.layout.method_name(m)} ({len(by_seed)} seed{'s' if len(by_seed) != 1 else ''})",
                         fontsize=9)
            ax.set_xlabel("epoch", fontsize=8)
            ax.set_ylabel(QUANTITIES.get(quantity, quantity), fontsize=8)
            ax.tick_params(labelsize=7)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            plots.append(Plot(path, "trajectory", epochs, series, panel=m))
        for ax in list(axes.flat)[len(panels):]:
            ax.axis("off")
        if classes <= LEGEND_CLASSES:
            handles, labels = axes.flat[0].get_legend_handles_labels()
            fig.legend(handles, labels, loc="outside right upper", fontsize=7, frameon=False, title="class")
        else:
            from matplotlib.cm import ScalarMappable
            from matplotlib.colors import Normalize

            fig.colorbar(ScalarMappable(Normalize(0, classes - 1), colormaps["viridis"]), ax=axes,
                         label="class index")
        fig.suptitle(f"{results.layout.dataset_name(ds)}: learned per-class perturbation over training, "
                     "mean over seeds", fontsize=10)
        _save(fig, path)
    return plots


def lpg_panels(results: Results, ds: str) -> list[tuple[str, str]]:
    """``(method row, series)`` of every LPG series (``lpg_<quantity>``) of a data set row, in row order."""
    order = {m: i for i, m in enumerate(results.layout.methods)}
    return sorted({(m, s) for d, m, _, s in results.curves if d == ds and s.startswith("lpg_")},
                  key=lambda k: order.get(k[0], len(order)))


def panel_figure(panels: int, max_columns: int, width: tuple[float, float],
                 height: tuple[float, float]) -> tuple[Figure, np.ndarray]:
    """A figure of ``panels`` axes in rows of up to ``max_columns``; size per panel plus margin (inches)."""
    columns = min(max_columns, panels)
    rows = -(-panels // columns)
    fig = Figure(figsize=(width[0] * columns + width[1], height[0] * rows + height[1]), layout="constrained")
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


def plot_cd_diagram(results: Results, out: Path, metric: str = "balanced_accuracy") -> list[Plot]:
    """Demšar's critical-difference diagram: average ranks over all data set rows, CD bar, cliques."""
    found = suite_friedman(results, metric)
    if found is None:
        return []
    datasets, methods, f = found
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
    fig, ax = _figure(7.5, 1.2 + 0.28 * (half + 0.3 * len(cliques) + 2))
    ax.set_xlim(k + 0.5, 0.5)  # rank 1 (best) on the right, as Demšar draws it
    ax.set_ylim(first_label - half, 1.6)
    ax.axis("off")
    ax.plot([1, k], [0, 0], color="black", lw=1)
    for r in range(1, k + 1):
        ax.plot([r, r], [0, 0.15], color="black", lw=1)
        ax.text(r, 0.25, str(r), ha="center", va="bottom", fontsize=7)
    ax.plot([1, 1 + f.critical_difference], [1.05, 1.05], color="black", lw=2)
    for end in (1, 1 + f.critical_difference):
        ax.plot([end, end], [0.95, 1.15], color="black", lw=1)
    ax.text(1 + f.critical_difference / 2, 1.2, f"CD = {f.critical_difference:.2f}", ha="center", va="bottom",
            fontsize=7)
    for i, j in enumerate(order):  # the best half labelled on the right, the worst half on the left
        right = i < half
        y = first_label - (i if right else k - 1 - i)
        x_end = 0.5 if right else k + 0.5
        ax.plot([ranks[j], ranks[j], x_end], [0, y, y], color="black", lw=0.7)
        ax.text(x_end - 0.05 if right else x_end + 0.05, y,
                f"{results.layout.method_name(methods[j])} ({ranks[j]:.2f})",
                ha="left" if right else "right", va="center", fontsize=7)
    for n, (a, b) in enumerate(cliques):
        y = -0.45 - 0.3 * n
        ax.plot([sorted_ranks[a] - 0.05, sorted_ranks[b] + 0.05], [y, y], color="black", lw=2.5)
    ax.set_title(f"Average ranks by {metric.replace('_', ' ')} over {f.n_datasets} data sets "
                 f"(Friedman F_F p = {f.p_f:.2g}); bars join methods within the Nemenyi CD (α = {f.alpha})",
                 fontsize=8)
    return [Plot(_save(fig, out / "cd_diagram.png"), "cd", np.arange(1, k + 1),
                 {results.layout.method_name(m): np.array([r]) for m, r in zip(methods, ranks, strict=True)})]


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
        fig, ax = _figure()
        series, errors = {}, {}
        for m in results.layout.methods:
            cells = [list(results.get(rows[rate], m, "accuracy").values()) for rate in rates]
            if not any(cells):
                continue
            name = results.layout.method_name(m)
            series[name] = np.array([100.0 * np.mean(v) if v else np.nan for v in cells])
            errors[name] = np.array([100.0 * np.std(v, ddof=1) if len(v) > 1 else 0.0 for v in cells])
            ax.errorbar(100.0 * rates, series[name], yerr=errors[name], marker="o", capsize=3, label=name)
        ax.set_xticks(100.0 * rates)  # only the rates that were run
        ax.set(xlabel=f"{data.get('noise')} noise rate (%)", ylabel="test accuracy (%)",
               title=f"{dataset}: accuracy against {data.get('noise')} noise, mean ± std over seeds")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        name = f"noise_{_safe(str(dataset))}_{_safe(str(data.get('noise')))}_{_safe('-'.join(rows.values()))}"
        plots.append(Plot(_save(fig, out / f"{name[:150]}.png"), "noise", rates, series, errors))
    return plots


def plot_weight_share(results: Results, out: Path) -> list[Plot]:
    """Per noisy row: the share of the reweighting methods' weight on flipped samples, per epoch.

    One line per method row (mean over seeds) and the row's noise rate dashed: a method that tells
    flipped samples apart stays below it. The right panel is the clean-vs-flipped weight AUC
    (0.5 = no separation).
    """
    plots = []
    for ds, info in results.layout.datasets.items():
        shares: dict[str, np.ndarray] = {}
        aucs: dict[str, np.ndarray] = {}
        for m in results.layout.methods:
            for name, into in (("flipped_weight_share", shares), ("weight_auc_clean_vs_flipped", aucs)):
                by_seed = _series(results, ds, m, name)
                if by_seed:
                    epochs = max(max(v) for v in by_seed.values())
                    grid = [[v.get(e, np.nan) for e in range(1, epochs + 1)] for v in by_seed.values()]
                    with warnings.catch_warnings():  # an epoch no seed has a value for stays a gap (NaN)
                        warnings.simplefilter("ignore", RuntimeWarning)
                        into[results.layout.method_name(m)] = np.nanmean(np.array(grid, dtype=float), axis=0)
        if not shares:
            continue
        fig = Figure(figsize=(10.0, 4.0), layout="constrained")
        FigureCanvasAgg(fig)
        left, right = fig.subplots(1, 2)
        epochs_axis = np.arange(1, max(len(v) for v in shares.values()) + 1)
        for name, values in shares.items():
            left.plot(np.arange(1, len(values) + 1), values, label=name)
        for name, values in aucs.items():
            right.plot(np.arange(1, len(values) + 1), values, label=name)
        rate = ((info.get("config") or {}).get("data") or {}).get("noise_rate")
        if rate:
            left.axhline(rate, color="grey", ls="--", lw=0.8, label="noise rate")
        right.axhline(0.5, color="grey", ls="--", lw=0.8)
        left.set(xlabel="epoch", ylabel="share of weight on flipped samples", title=f"{ds}: weight share")
        right.set(xlabel="epoch", ylabel="AUC, clean vs flipped", title=f"{ds}: weight AUC, mean over seeds")
        left.legend(fontsize=7)
        path = _save(fig, out / f"weight_share_{_safe(ds)}.png")
        plots.append(Plot(path, "weight_share", epochs_axis, shares))
    return plots


def make_plots(results: Results, out: str | Path) -> list[Plot]:
    """Every plot that applies, written to ``<out>/plots/``."""
    from lpg_meta.report.class_noise import plot_class_noise  # it draws with this module's helpers

    folder = Path(out) / PLOTS_DIR
    return (plot_per_class(results, folder) + plot_curves(results, folder) + plot_trajectories(results, folder)
            + plot_noise(results, folder) + plot_cd_diagram(results, folder) + plot_weight_share(results, folder)
            + plot_class_noise(results, folder))


def write_plots(results: Results, out: str | Path) -> list[Path]:
    """Write the plots and return their paths (PNG and PDF)."""
    paths = dict.fromkeys(plot.path for plot in make_plots(results, out))  # panels share a figure
    return [p for path in paths for p in (path, path.with_suffix(".pdf"))]
