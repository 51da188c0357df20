"""Lay a paper table out for the page it goes on: which rows, which columns side by side, which floats.

Three targets (``TARGETS``): one column of a two-column paper (3.25 in, a ``table`` float), the
text of a one-column paper (5.5 in, NeurIPS / ICLR) and the text of a two-column paper (6.75 in,
a ``table*``). Nothing is scaled: the data set columns are cut into blocks that fit the width
(stacked one below the other, each with its own header), and the blocks into as many floats as
the page height needs. The widths are estimated from the characters of each cell in Computer
Modern at the table's font size, with a margin; the tests compile every table at every target.

A *compact* table, for the main text, keeps the reference row, every LPG row, the base X of each
LPG+X row and every row that is best in some column; the full table goes to the appendix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lpg_meta.report.layout import proposed
from lpg_meta.report.tables import Table

PT_PER_IN = 72.27


@dataclass(frozen=True)
class Target:
    """A page a table is laid out for: its width, float, font size (pt) and column padding (pt)."""

    name: str
    width_in: float
    float_env: str
    size_command: str
    size_pt: float
    small_pt: float  # \scriptsize of the std and the notes
    tabcolsep_pt: float
    height_pt: float = 0.86 * 9 * PT_PER_IN  # a float may fill most of a 9 in text height, caption included

    @property
    def width_pt(self) -> float:
        return self.width_in * PT_PER_IN


TARGETS = {
    "column": Target("column", 3.25, "table", "\\scriptsize", 7.0, 7.0, 2.0),
    "text": Target("text", 5.5, "table", "\\footnotesize", 8.0, 7.0, 3.0),
    "wide": Target("wide", 6.75, "table*", "\\footnotesize", 8.0, 7.0, 3.0),
}
SAFETY = 0.93  # use at most this share of the width: the estimate is of average glyphs

# Computer Modern glyph widths in em, roughly by class
_NARROW = set("il.,:;'|!()[]1")
_WIDE = set("MWmw%")


def text_width(text: str, size_pt: float) -> float:
    """Estimated width in pt of plain ``text`` at ``size_pt`` (Computer Modern roman)."""
    total = 0.0
    for ch in text:
        if ch in _NARROW:
            total += 0.28
        elif ch in _WIDE:
            total += 0.85
        elif ch.isupper():
            total += 0.72
        elif ch.isdigit() or ch in "+-–±":
            total += 0.5 if ch.isdigit() else 0.78
        elif ch == " ":
            total += 0.33
        else:
            total += 0.5
    # Computer Modern's small optical sizes are wider per em (a digit is 0.5 em at 10 pt, 0.57 at 7 pt)
    return total * size_pt * (1.0 + 0.045 * max(0.0, 10.0 - size_pt))


def latex_cell_width(cell: str, target: Target) -> float:
    """Width of a rendered LaTeX cell: the ``\\lpgstd`` part at the small size, macros removed."""
    main, _, std = cell.partition("\\lpgstd{")
    strip = re.compile(r"\\lpg(best|nsw)\{|\\textit\{|\\[a-zA-Z]+|[{}$^]")
    width = text_width(strip.sub("", main), target.size_pt)
    if std:
        std_text, _, rest = std.partition("}")
        width += text_width("±" + std_text, target.small_pt) + text_width(strip.sub("", rest), target.small_pt)
    return width


def lines_width(lines: list[str], size_pt: float) -> float:
    return max((text_width(line, size_pt) for line in lines), default=0.0)


def stacked(text: str, narrow: bool) -> list[str]:
    """A header or name as lines where the page is narrow: a qualifier in parentheses goes below, or
    the words go one below the other."""
    if not narrow:
        return [text]
    head, paren, rest = text.partition(" (")
    lines = [head, f"({rest}"] if paren else [text]
    if narrow and len(lines) == 1 and " " in text and len(text) > 6:
        lines = text.split(" ", 1)
    return lines


def compact_groups(table: Table) -> list[tuple[str, list[str]]]:
    """The main-text rows: reference, LPG rows, bases of LPG+X rows, rows best in a column."""
    spec = table.spec
    keep = {spec.reference} if spec.reference else set()
    for m in table.methods:
        method = table.method_ids.get(m, m)
        if proposed(method):  # hand-set rows (an intervention): appendix only
            keep.add(m)
    for (m, i), cell in table.cells.items():
        if cell.mark == "best" and table.columns[i].kind in ("main", "shot"):
            keep.add(m)
    keep |= {b for m in keep if (b := table.bases.get(m))}
    groups = [(g, [m for m in rows if m in keep]) for g, rows in table.groups]
    return [(g, rows) for g, rows in groups if rows]


def row_count(groups: list[tuple[str, list[str]]]) -> int:
    return sum(len(rows) + (1 if g else 0) for g, rows in groups)
