"""The committed CPU results: their LaTeX compiles and fits, and they regenerate from the tidy data."""

from __future__ import annotations

from pathlib import Path

import pytest

from lpg_meta.report import leaderboard

RESULTS = Path(__file__).resolve().parents[2] / "results" / "cpu"
TEX = sorted(RESULTS.glob("*.tex"))


def test_the_committed_results_have_latex_tables():
    assert {p.name for p in TEX} >= {"leaderboard.tex", "leaderboard_balanced.tex", "leaderboard_long-tail.tex",
                                     "leaderboard_noisy.tex", "claims.tex"}


def test_every_committed_table_fits_each_page_it_is_laid_out_for(fits_every_page, tmp_path):
    names = fits_every_page(RESULTS, tmp_path)
    for protocol in ("balanced", "long-tail", "noisy"):
        for layout in ("", "_column", "_column_full", "_text", "_text_full", "_wide"):
            assert f"leaderboard_{protocol}{layout}.tex" in names
    assert {"claims.tex", "theory.tex", "hyperparameters.tex"} <= set(names)


def test_committed_pdfs_embed_no_type3_font():
    import shutil
    import subprocess

    if not shutil.which("pdffonts"):
        pytest.skip("pdffonts (poppler-utils) not installed")
    pdfs = sorted((RESULTS / "plots").glob("*.pdf"))
    assert pdfs
    for pdf in pdfs:
        listing = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
        assert "Type 3" not in listing, f"{pdf.name}:\n{listing}"


def test_the_committed_leaderboard_is_a_function_of_the_committed_runs_csv():
    assert leaderboard(RESULTS / "runs.csv") == (RESULTS / "leaderboard.md").read_text()
