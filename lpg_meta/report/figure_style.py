"""How every figure is drawn for a venue: print sizes, font sizes, embedded fonts, method colours.

Every figure is drawn twice by one function that takes the width: ``<name>_column.pdf`` for one
column of a two-column paper (3.25 in, a ``figure``) and ``<name>_text.pdf`` for its text width
(6.75 in, a ``figure*``; it also suits a one-column 5.5-6.5 in text at ``width=\\linewidth``).
Each is laid out for its width (legend below or beside the axes, panels per row) rather than
scaled, so its text is 7 pt or more on paper. Only PDFs are written: nothing reads a raster
preview (no report embeds one, and GitHub shows the PDFs), and a vector figure serves both print
and screen. PDFs embed TrueType (Type 42) fonts: some venues' checkers reject the Type 3 fonts
matplotlib writes by default. A method row keeps one colour and one marker in every figure of a
suite (its place in the suite's method order picks them).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from lpg_meta.report.layout import Layout
from lpg_meta.results import write_atomic

COLUMN_IN = 3.25  # one column of a two-column paper
TEXT_IN = 6.75  # the text width of a two-column paper (a table* or figure*)
SIZES = {"column": COLUMN_IN, "text": TEXT_IN}  # file name suffix -> print width (in)
MARKERS = "os^Dv<>"  # a method's marker, so 20-odd methods stay apart where colours are close
MIN_FONT_PT = 7.0
STYLE: dict[str, Any] = {
    "pdf.fonttype": 42, "ps.fonttype": 42, "font.size": 8.0, "axes.titlesize": 8.0, "axes.labelsize": 8.0,
    "xtick.labelsize": 7.0, "ytick.labelsize": 7.0, "legend.fontsize": 7.0, "legend.title_fontsize": 7.0,
    "figure.titlesize": 8.0, "lines.linewidth": 1.2, "axes.linewidth": 0.6,
}


def _palette() -> list[tuple[float, ...]]:
    # tab10 first (the most distinct), then the dark and the mid shades of tab20b and tab20c, then Dark2.
    tab10, b, c, dark2 = (colormaps[n] for n in ("tab10", "tab20b", "tab20c", "Dark2"))
    return ([tab10(i) for i in range(10)] + [m(i) for i in range(0, 20, 4) for m in (b, c)]
            + [m(i) for i in range(2, 20, 4) for m in (b, c)] + [dark2(i) for i in range(8)])


PALETTE = _palette()


@contextlib.contextmanager
def style() -> Iterator[None]:
    """Draw and save inside this: the font sizes apply to text made here, the font type to saving."""
    with matplotlib.rc_context(STYLE):
        yield


def method_colours(layout: Layout) -> dict[str, tuple[float, ...]]:
    """One colour per method row, by its place in the suite's order (the same in every figure)."""
    return {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(layout.methods)}


def method_markers(layout: Layout) -> dict[str, str]:
    """One marker per method row, cycling through seven against the palette's ten hues, so neighbours in the
    suite's order (often of one family and of close shades) differ in both."""
    return {m: MARKERS[i % len(MARKERS)] for i, m in enumerate(layout.methods)}


def is_column(width: float) -> bool:
    """Whether a figure drawn at ``width`` is a one-column figure (legend below, fewer panels a row)."""
    return width < TEXT_IN


def new_figure(width: float, height: float) -> Figure:
    """A bare Figure with an Agg canvas: no pyplot, so no global backend switch and no GUI."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def panel_grid(width: float, panels: int, columns: int, row_height: float,
               margin: float) -> tuple[Figure, np.ndarray]:
    """``panels`` axes in rows of up to ``columns`` (2 at column width); ``row_height`` per row plus
    ``margin`` (inches); axes past the last panel are hidden."""
    columns = min(2 if is_column(width) else columns, panels)
    rows = -(-panels // columns)
    fig = new_figure(width, row_height * rows + margin)
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax in list(axes.flat)[panels:]:
        ax.axis("off")
    return fig, axes


def legend(fig: Figure, width: float, *handles_labels: Any, columns: int = 2, **options: Any) -> None:
    """The figure's legend: below the axes in ``columns`` columns at column width, to their right at
    text width (a legend inside the axes would cover data)."""
    if is_column(width):
        fig.legend(*handles_labels, **{"loc": "outside lower center", "ncols": columns, "frameon": False,
                                       "handletextpad": 0.3, "columnspacing": 0.8, **options})
    else:
        fig.legend(*handles_labels, **{"loc": "outside right upper", "frameon": False, **options})


def figure_files(stem: Path) -> list[Path]:
    """The files of the figure ``stem`` (a path without suffix): one PDF per print size."""
    return [stem.with_name(f"{stem.name}_{size}.pdf") for size in SIZES]


def save_figure(draw: Callable[[float], Figure], stem: Path) -> Path:
    """Draw the figure at each print width and write each PDF atomically; return ``stem``.

    No dates or versions in the files: same data, same bytes.
    """
    with style():  # font sizes for the text drawn, TrueType fonts for the PDF
        for path, width in zip(figure_files(stem), SIZES.values(), strict=True):
            fig = draw(width)
            write_atomic(path, lambda handle, fig=fig: fig.savefig(
                handle, format="pdf", metadata={"CreationDate": None, "Producer": None, "Creator": None}))
    return stem
