"""Figures of a results folder, written as PNG files under ``<root>/plots/``.

1. ``trajectory_*``: the learned per-class perturbation of each LPG cell over epochs (mean over seeds).
2. ``per_class_*``: per-class test accuracy by method on long-tail dataset rows, classes by train count.
3. ``noise_*``: test accuracy against noise rate where rows differ only in their noise rate.
4. ``weight_share_*``: on noisy rows, the reweighting methods' weight share on flipped samples.

Each function returns :class:`Plot` records holding exactly the arrays it drew, so tests
(and notebooks) can check a figure against the result files without reading pixels.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from lpg_meta.report.collect import (
    Run,
    dataset_config,
    group_runs,
    is_long_tail,
    load_runs,
    mean_std,
)

PLOTS_DIR = "plots"
MAX_LEGEND = 12  # beyond this a legend hides the plot; colours still follow the class index


@dataclass(frozen=True)
class Plot:
    """A written figure and the data drawn in it: ``series[label]`` against ``x``."""

    path: Path
    kind: str
    x: np.ndarray
    series: dict[str, np.ndarray] = field(default_factory=dict)
    errors: dict[str, np.ndarray] = field(default_factory=dict)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "x"


def _figure(width: float = 7.0, height: float = 4.0) -> tuple[Figure, object]:
    # A bare Figure with an Agg canvas: no pyplot, so no global backend switch and no GUI.
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, metadata={"Software": None})  # no version stamp: same files, same bytes
    return path


def _floats(rows: list) -> np.ndarray:
    return np.array([[np.nan if v is None else float(v) for v in row] for row in rows], dtype=float)


def trajectory_mean(runs: list[Run]) -> np.ndarray | None:
    """Mean a_c trajectory ``(epochs, classes)`` over the finished runs that recorded one.

    Seeds that stopped early are cut to the shortest common length, so each epoch's mean
    is over the same seeds.
    """
    trajs = [_floats(r.result["lpg"]["trajectory"]) for r in runs
             if r.ok and (r.result.get("lpg") or {}).get("trajectory")]
    if not trajs:
        return None
    length = min(t.shape[0] for t in trajs)
    return np.nanmean(np.stack([t[:length] for t in trajs]), axis=0)


def plot_trajectories(runs: list[Run], out: Path) -> list[Plot]:
    """One figure per (dataset row, method row) holding LPG trajectories: a line per class."""
    plots = []
    for (ds, m), cell in group_runs(runs).items():
        mean = trajectory_mean(cell)
        if mean is None:
            continue
        lpg = next(r.result["lpg"] for r in cell if r.ok and (r.result.get("lpg") or {}).get("trajectory"))
        quantity = lpg.get("quantity", "a_c")
        epochs = np.arange(1, mean.shape[0] + 1)
        fig, ax = _figure()
        cmap = colormaps["viridis"]  # colour follows the class index, so head and tail read apart
        series = {}
        for c in range(mean.shape[1]):
            series[f"class {c}"] = mean[:, c]
            ax.plot(epochs, mean[:, c], color=cmap(c / max(1, mean.shape[1] - 1)), label=f"class {c}")
        ax.axhline(0.0, color="grey", lw=0.8, ls="--")
        seeds = sum(1 for r in cell if r.ok and (r.result.get("lpg") or {}).get("trajectory"))
        ax.set(xlabel="epoch", ylabel=quantity,
               title=f"{ds} / {m}: learned {quantity} (form {lpg.get('form')}, mean of {seeds} "
                     f"seed{'s' if seeds != 1 else ''})")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        if mean.shape[1] <= MAX_LEGEND:
            ax.legend(fontsize=7, ncol=2)
        path = _save(fig, out / f"trajectory_{_safe(ds)}_{_safe(m)}.png")
        plots.append(Plot(path, "trajectory", epochs, series))
    return plots


def plot_per_class(runs: list[Run], out: Path) -> list[Plot]:
    """Per-class test accuracy (%) by method on each long-tail dataset row, head classes first."""
    plots = []
    groups = group_runs(runs)
    for ds in sorted({r.dataset_row for r in runs}):
        if not is_long_tail(dataset_config(runs, ds)):
            continue
        finished = [r for r in runs if r.dataset_row == ds and r.ok]
        counts = next((r.result.get("data", {}).get("per_class", {}).get("train") for r in finished), None)
        if not counts:
            continue
        # Stable sort: equal counts keep label order, so the axis is the same on every call.
        order = np.argsort(-np.asarray(counts, dtype=float), kind="stable")
        fig, ax = _figure(max(7.0, 0.25 * len(order)), 4.0)
        series = {}
        for (row, m), cell in groups.items():
            per_class = [r.result["metrics"]["test"]["per_class"] for r in cell if row == ds and r.ok]
            if not per_class:
                continue
            series[m] = 100.0 * np.nanmean(_floats(per_class), axis=0)[order]
            ax.plot(np.arange(len(order)), series[m], marker="o", ms=3, label=m)
        ax.set_xticks(np.arange(len(order)))
        ax.set_xticklabels([f"{c}\n{counts[c]}" for c in order] if len(order) <= 20 else
                           [str(c) for c in order], fontsize=7, rotation=0 if len(order) <= 20 else 90)
        ax.set(xlabel="class (and train count), most frequent first", ylabel="test accuracy %",
               title=f"{ds}: per-class test accuracy (mean over seeds)")
        ax.legend(fontsize=7)
        path = _save(fig, out / f"per_class_{_safe(ds)}.png")
        plots.append(Plot(path, "per_class", order, series))
    return plots


def _noise_family(config: dict) -> str:
    # Rows whose whole setting but the noise rate agrees form one curve.
    data = {k: v for k, v in (config.get("data") or {}).items() if k not in ("noise_rate", "noise_map")}
    return json.dumps([config.get("dataset"), config.get("model"), data], sort_keys=True, default=str)


def plot_noise(runs: list[Run], out: Path) -> list[Plot]:
    """Test accuracy (%) against noise rate, one line per method, per family of noisy rows."""
    families: dict[str, dict[float, str]] = {}
    for ds in sorted({r.dataset_row for r in runs}):
        cfg = dataset_config(runs, ds)
        data = cfg.get("data") or {}
        if (data.get("noise") or "none") != "none":
            families.setdefault(_noise_family(cfg), {}).setdefault(float(data.get("noise_rate") or 0.0), ds)
    plots = []
    groups = group_runs(runs)
    for family, rows in sorted(families.items()):
        if len(rows) < 2:
            continue
        rates = np.array(sorted(rows))
        dataset, _, data = json.loads(family)
        fig, ax = _figure()
        series, errors = {}, {}
        for m in sorted({r.method_row for r in runs}):
            stats = [mean_std([100.0 * v for r in groups.get((rows[rate], m), [])
                               if (v := r.metric("accuracy")) is not None]) for rate in rates]
            if all(mu is None for mu, _ in stats):
                continue
            series[m] = np.array([np.nan if mu is None else mu for mu, _ in stats])
            errors[m] = np.array([0.0 if sd is None else sd for _, sd in stats])
            ax.errorbar(100.0 * rates, series[m], yerr=errors[m], marker="o", capsize=3, label=m)
        ax.set_xticks(100.0 * rates)  # only the rates that were run
        ax.set(xlabel=f"{data.get('noise')} noise rate %", ylabel="test accuracy %",
               title=f"{dataset}: accuracy against {data.get('noise')} noise (mean ± std over seeds)")
        ax.legend(fontsize=7)
        name = f"noise_{_safe(str(dataset))}_{_safe(str(data.get('noise')))}_{_safe('-'.join(rows.values()))}"
        plots.append(Plot(_save(fig, out / f"{name[:150]}.png"), "noise", rates, series, errors))
    return plots


WEIGHTED = ("mwnet", "l2rw", "gdw")  # result keys of the per-sample reweighting methods


def plot_weight_share(runs: list[Run], out: Path) -> list[Plot]:
    """Per noisy dataset row: the share of the reweighting methods' weight on flipped samples.

    One line per method row (mean over seeds) against the epoch, and the row's realised noise
    rate dashed: a method that tells flipped samples apart stays below it. The right panel is
    the clean-vs-flipped weight AUC (0.5 = no separation).
    """
    plots = []
    groups = group_runs(runs)
    for ds in sorted({r.dataset_row for r in runs}):
        series: dict[str, np.ndarray] = {}
        aucs: dict[str, np.ndarray] = {}
        for (row, m), cell in groups.items():
            recs = [rec for r in cell if row == ds and r.ok for key in WEIGHTED
                    if (rec := r.result.get(key) or {}).get("flipped_weight_share")]
            if not recs:
                continue
            length = min(len(rec["flipped_weight_share"]) for rec in recs)
            series[m] = np.nanmean(_floats([rec["flipped_weight_share"][:length] for rec in recs]), axis=0)
            aucs[m] = np.nanmean(_floats([rec["weight_auc_clean_vs_flipped"][:length] for rec in recs]), axis=0)
        if not series:
            continue
        rate = next((r.result.get("data", {}).get("noise", {}).get("realised_rate")
                     for r in runs if r.dataset_row == ds and r.ok), None)
        fig = Figure(figsize=(10.0, 4.0), layout="constrained")
        FigureCanvasAgg(fig)
        left, right = fig.subplots(1, 2)
        epochs = np.arange(1, max(len(v) for v in series.values()) + 1)
        for m in sorted(series):
            left.plot(epochs[: len(series[m])], series[m], label=m)
            right.plot(epochs[: len(aucs[m])], aucs[m], label=m)
        if rate is not None:
            left.axhline(rate, color="grey", ls="--", lw=0.8, label="noise rate")
        right.axhline(0.5, color="grey", ls="--", lw=0.8)
        left.set(xlabel="epoch", ylabel="share of weight on flipped samples", title=f"{ds}: weight share")
        right.set(xlabel="epoch", ylabel="AUC clean vs flipped", title=f"{ds}: weight AUC (mean over seeds)")
        left.legend(fontsize=7)
        path = _save(fig, out / f"weight_share_{_safe(ds)}.png")
        plots.append(Plot(path, "weight_share", epochs, series, {}))
    return plots


def make_plots(root: str | Path) -> list[Plot]:
    """Every plot that applies to the results under ``root``, written to ``<root>/plots/``."""
    root = Path(root)
    runs = load_runs(root)
    out = root / PLOTS_DIR
    return (plot_trajectories(runs, out) + plot_per_class(runs, out) + plot_noise(runs, out)
            + plot_weight_share(runs, out))


def write_plots(root: str | Path) -> list[Path]:
    """Write the plots of ``root`` and return their paths (the CLI's entry point)."""
    return [p.path for p in make_plots(root)]
