"""How every figure is drawn for a venue: print sizes, font sizes, embedded fonts, method colours.

Each figure is laid out at the width it is printed at, one column (3.25 in) or the text width
of a two-column paper (6.75 in), so its text is 7 pt or more on paper with no scaling. PDFs embed
TrueType (Type 42) fonts: some venues' checkers reject the Type 3 fonts matplotlib writes by
default. A method row keeps one colour in every figure of a suite (its place in the suite's
method order picks it from ``PALETTE``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import matplotlib
from matplotlib import colormaps

from lpg_meta.report.layout import Layout

COLUMN_IN = 3.25  # one column of a two-column paper
TEXT_IN = 6.75  # the text width of a two-column paper (a table* or figure*)
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
