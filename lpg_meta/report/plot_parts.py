"""What the figure modules share (``plots``, ``class_noise``, ``cd_diagram``, ``theory_plots``): the
:class:`Plot` record of a written figure, file-safe names, one row's series, panel titles and text
wrapped to a figure's width. It imports none of them, so each imports it without a cycle.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes

from lpg_meta.registry import Quantity
from lpg_meta.report.figure_style import figure_files
from lpg_meta.report.tidy import Results


@dataclass(frozen=True)
class Plot:
    """A written figure and the data drawn: ``series[label]`` against ``x``.

    ``path`` is the figure's name in its folder, without suffix (its PDFs are ``files``), or the
    ``.txt`` written in place of a figure (``kind == "note"``).
    """

    path: Path
    kind: str
    x: np.ndarray
    series: dict[str, np.ndarray] = field(default_factory=dict)
    errors: dict[str, np.ndarray] = field(default_factory=dict)
    panel: str = ""  # the method row of one panel, where a figure has several

    @property
    def files(self) -> list[Path]:
        return [self.path] if self.kind == "note" else figure_files(self.path)


def safe_name(name: str) -> str:
    """``name`` as part of a file name: runs of other characters than ``A-Za-z0-9._-`` become ``-``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "x"


def wrap(text: str, width: float) -> str:
    """``text`` in lines that fit a figure ``width`` inches wide in 8 pt text, beside a legend on its right."""
    return textwrap.fill(text, int(width * 14), break_on_hyphens=False)


def panel_title(results: Results, row: str) -> str:
    """A method row's name as the title of a 1.5 in panel: a long name breaks before its parenthesis."""
    name = results.layout.method_name(row)
    return name.replace(" (", "\n(", 1) if len(name) > 18 else name


def row_series(results: Results, ds: str, m: str, name: str) -> dict[int, dict[int, float]]:
    """seed -> {epoch or class: value} of one curve series."""
    out: dict[int, dict[int, float]] = {}
    for (d, method, seed, series), points in results.curves.items():
        if (d, method, series) == (ds, m, name):
            out[seed] = {(e if e is not None else c): v for e, c, v in points}
    return out


def label_quantity(ax: Axes, quantity: Quantity, figure: Quantity, prefix: str = "") -> None:
    """A panel of per-class ``quantity`` in a figure labelled by ``figure``'s: the figure's own quantity
    gets its neutral line (a_c = 0 leaves the gradient as it is; a threshold has no such line); another
    names its own panel's axis (``prefix``, e.g. ``last-epoch ``, before its label)."""
    if quantity != figure:
        ax.set_ylabel(prefix + quantity.label)
    elif quantity.neutral is not None:
        ax.axhline(quantity.neutral, color="grey", lw=0.7, ls="--")
