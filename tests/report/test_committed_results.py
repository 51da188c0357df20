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


@pytest.mark.parametrize("path", TEX, ids=[p.name for p in TEX])
def test_each_committed_table_compiles_within_the_page(path, latex, tmp_path):
    latex(path.read_text(), tmp_path)


def test_the_committed_leaderboard_is_a_function_of_the_committed_runs_csv():
    assert leaderboard(RESULTS / "runs.csv") == (RESULTS / "leaderboard.md").read_text()
