"""Plot the records of ``diag_collapse.py`` side by side: accuracy, loss, gradient norm, A.

Usage: ``python benchmarks/plot_collapse.py OUT.png LABEL=diag.json [LABEL=diag.json ...]`` (split at the last =)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def main() -> None:
    out, *pairs = sys.argv[1:]
    runs = [(label, json.loads(Path(path).read_text())) for label, _, path in (p.rpartition("=") for p in pairs)]
    fig = Figure(figsize=(12, 8))
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 2).ravel()
    for i, (label, run) in enumerate(runs):
        color = f"C{i}"
        epochs = [e["epoch"] for e in run["epochs"]]
        curve = [100 * e["test_balanced_accuracy"] for e in run["epochs"]]
        axes[0].plot(epochs, curve, marker="o", color=color, label=label)
        steps = run["steps"]
        x = [s["step"] / 60 for s in steps]  # 60 steps an epoch on mnist1d_pair
        axes[1].plot(x, [s["loss"] for s in steps], lw=0.6, color=color, label=label)
        axes[2].plot(x, [s["grad_norm"] for s in steps], lw=0.6, color=color, label=label)
        if "A_diag_mean" in steps[0]:
            axes[3].plot(x, [s["A_diag_mean"] for s in steps], color=color, label=f"{label}: mean A[y,y]")
            axes[3].plot(x, [s["A_prev_mean"] for s in steps], color=color, ls="--", label=f"{label}: mean A[y,y-1]")
    axes[0].set(xlabel="epoch", ylabel="test balanced accuracy %", title="test accuracy per epoch")
    axes[1].set(xlabel="epoch", ylabel="train batch loss", yscale="log", title="train loss per step")
    axes[2].set(xlabel="epoch", ylabel="||grad||", yscale="log", title="parameter gradient norm per step")
    axes[3].set(xlabel="epoch", ylabel="A entry", title="learned A (eps 0.5)")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=90)


if __name__ == "__main__":
    main()
