"""The committed CPU results: their LaTeX compiles and fits, and they regenerate from the tidy data."""

from __future__ import annotations

from pathlib import Path

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


def test_committed_pdfs_embed_only_truetype_fonts(pdf_font_types):
    pdfs = sorted((RESULTS / "plots").glob("*.pdf"))
    assert pdfs
    for pdf in pdfs:
        types = pdf_font_types(pdf)
        assert types and set(types) <= {"TrueType", "CID TrueType"}, f"{pdf.name}: {types}"


def test_the_committed_leaderboard_is_a_function_of_the_committed_runs_csv():
    assert leaderboard(RESULTS / "runs.csv") == (RESULTS / "leaderboard.md").read_text()


def test_the_committed_certificate_section_is_a_function_of_the_committed_certificates():
    from lpg_meta.report import load_results
    from lpg_meta.report.theory_certificates import render_certificates_md
    from lpg_meta.results import CERTIFICATES_NAME

    section = render_certificates_md(load_results(RESULTS), RESULTS / CERTIFICATES_NAME)
    assert section.startswith("## Optimised PAC-Bayes certificates")
    assert section in (RESULTS / "theory.md").read_text()
