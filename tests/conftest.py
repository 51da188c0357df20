"""Shared fixtures: ``latex``, which compiles generated tables with pdflatex.

pdflatex comes from TeX Live's base and recommended packages (Debian: texlive-latex-base,
texlive-latex-recommended). Where it is missing the fixture installs them with apt-get (as
root, with Debian's archive reachable, as in CI, where ``.ci/run`` installs them first);
where that is impossible the tests that need it are skipped, unless ``LPG_REQUIRE_LATEX=1``
(set by ``.ci/run``), which makes the skip a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

TEX_PACKAGES = ("texlive-latex-base", "texlive-latex-recommended")
# pdffonts lists the fonts a PDF embeds (the figures must hold no Type 3 font).
PDF_TOOLS = ("poppler-utils",)
# Overfull boxes up to this width pass: 1 pt is a third of the 3 pt column padding, invisible in print.
OVERFULL_TOLERANCE_PT = 1.0
# The pages the tables are written for (lpg_meta.report.render.TARGETS): a two-column paper
# (ICML / CVPR-like: 6.75 in text, 3.25 in columns; `table` floats fill a column, `table*` the text)
# and a one-column paper of 5.5 in text width (NeurIPS / ICLR-like); 9 in of text height each.
DOCUMENTS = {
    "twocolumn": r"""\documentclass[twocolumn,10pt]{article}
\usepackage{booktabs}
\setlength{\textwidth}{6.75in}\setlength{\oddsidemargin}{-0.125in}\setlength{\evensidemargin}{-0.125in}
\setlength{\columnsep}{0.25in}\setlength{\textheight}{9in}\setlength{\topmargin}{-0.6in}
\begin{document}
\input{%s}
\end{document}
""",
    "onecolumn": r"""\documentclass[10pt]{article}
\usepackage{booktabs}
\setlength{\textwidth}{5.5in}\setlength{\oddsidemargin}{0.5in}\setlength{\evensidemargin}{0.5in}
\setlength{\textheight}{9in}\setlength{\topmargin}{-0.6in}
\begin{document}
\input{%s}
\end{document}
""",
}
DOCUMENT = DOCUMENTS["twocolumn"]


def _unavailable(tool: str, reason: str) -> None:
    if os.environ.get("LPG_REQUIRE_LATEX") == "1":
        pytest.fail(f"LPG_REQUIRE_LATEX=1 but {tool} cannot run here: {reason}")
    pytest.skip(f"{tool} not available: {reason}")


def _install(tool: str, packages: tuple[str, ...]) -> str | None:
    """Install ``packages`` (which provide ``tool``) with apt-get where we may; return why not, or None."""
    if not shutil.which("apt-get"):
        return f"no {tool} and no apt-get to install it"
    if os.geteuid() != 0:
        return f"no {tool}; install it with: apt-get install {' '.join(packages)}"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", *packages]):
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
        if done.returncode != 0:
            return f"'{' '.join(command)}' failed: {done.stderr.strip()[-300:]}"
    return None if shutil.which(tool) else f"apt-get ran but {tool} is still missing"


def _require(tool: str, packages: tuple[str, ...]) -> None:
    if not shutil.which(tool):
        reason = _install(tool, packages)
        if reason:
            _unavailable(tool, reason)


@pytest.fixture(scope="session")
def latex() -> Callable[[str, Path], str]:
    """``latex(tex, folder, document="twocolumn")`` compiles ``tex`` inside DOCUMENTS[document] and
    returns the log.

    Fails on an error, on an overfull box wider than OVERFULL_TOLERANCE_PT, and on a float too
    large for the page.
    """
    _require("pdflatex", TEX_PACKAGES)

    def compile_tex(tex: str, folder: Path, document: str = "twocolumn") -> str:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "table.tex").write_text(tex)
        (folder / "doc.tex").write_text(DOCUMENTS[document] % "table.tex")
        done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
                              cwd=folder, capture_output=True, text=True, timeout=120)
        log = (folder / "doc.log").read_text(errors="replace") if (folder / "doc.log").exists() else done.stdout
        assert done.returncode == 0, f"pdflatex failed:\n{done.stdout[-3000:]}"
        widths = [float(w) for w in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\)", log)]
        assert all(w <= OVERFULL_TOLERANCE_PT for w in widths), f"overfull boxes {widths} pt:\n{log[-3000:]}"
        too_large = re.findall(r"Float too large for page by ([\d.]+)pt", log)
        assert not too_large, f"floats too large for the page by {too_large} pt"
        return log

    return compile_tex


@pytest.fixture(scope="session")
def pdf_font_types() -> Callable[[Path], list[str]]:
    """``pdf_font_types(pdf)``: the type column of ``pdffonts`` for each font ``pdf`` embeds.

    Installs poppler-utils like ``latex`` installs TeX Live; skips where it cannot, or fails
    under ``LPG_REQUIRE_LATEX=1``."""
    _require("pdffonts", PDF_TOOLS)

    def font_types(pdf: Path) -> list[str]:
        listing = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
        _, rule, *rows = listing.splitlines()
        # The rule of dashes under the header gives the columns; the second one is the type.
        columns = [m.span() for m in re.finditer(r"-+", rule)]
        start, end = columns[1][0], columns[2][0]
        return [row[start:end].strip() for row in rows]

    return font_types


def documents_for(name: str) -> tuple[str, ...]:
    """The pages a generated .tex is laid out for: `_text` leaderboards a 5.5 in one-column page, the
    other leaderboards a two-column page (table or table*), one-column floats (claims, theory,
    hyperparameters) both."""
    if name.startswith("leaderboard"):
        return ("onecolumn",) if "_text" in name else ("twocolumn",)
    return ("twocolumn", "onecolumn")


@pytest.fixture(scope="session")
def fits_every_page(latex) -> Callable[..., list[str]]:
    """``fits_every_page(folder, tmp)`` compiles every .tex of ``folder`` on each page it is laid out
    for (``latex`` fails on an overfull box or a float too large) and checks that no label repeats
    across the files; returns the file names."""

    def check(folder: Path, tmp: Path, skip: frozenset[str] = frozenset()) -> list[str]:
        names, labels = [], {}
        for path in sorted(p for p in folder.glob("*.tex") if p.name not in skip):
            text = path.read_text()
            for document in documents_for(path.name):
                latex(text, tmp / f"{path.stem}-{document}", document)
            for label in re.findall(r"\\label\{([^}]*)\}", text):
                assert label not in labels, f"\\label{{{label}}} in both {labels[label]} and {path.name}"
                labels[label] = path.name
            names.append(path.name)
        return names

    return check
