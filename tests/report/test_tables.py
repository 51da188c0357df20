"""Leaderboards hold exactly the seeds' mean ± sample std, mark the best, and cite the papers."""

from __future__ import annotations

import argparse
import csv
import io
import re
import shutil
import subprocess

import pytest
from test_collect import write_result

from lpg_meta.errors import UserError
from lpg_meta.report import add_table_parser, cmd_table, leaderboard, write_leaderboards


def md_rows(text: str) -> dict[str, list[str]]:
    """Markdown table body as {first cell: [cells]}, header included under 'method'."""
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines()
            if line.startswith("|") and not line.startswith("|--")]
    return {r[0]: r[1:] for r in rows}


@pytest.fixture
def suite(tmp_path):
    """Two methods on a balanced row; seeds 0.80/0.90 vs 0.70/0.74 balanced accuracy."""
    for seed, (ce, lpg) in enumerate([(0.80, 0.70), (0.90, 0.74)]):
        write_result(tmp_path, "digits", "ce", seed, balanced=ce, accuracy=ce + 0.01)
        write_result(tmp_path, "digits", "lpg", seed, method="lpg", balanced=lpg, accuracy=lpg)
    return tmp_path


def test_markdown_holds_mean_and_sample_std_with_best_bold(suite):
    rows = md_rows(leaderboard(suite))
    assert rows["method"] == ["digits"]
    assert rows["ce"] == ["**85.00 ± 7.07**"]  # (80 + 90) / 2; sqrt(2 * 5^2 / 1)
    assert rows["lpg"] == ["72.00 ± 2.83"]
    accuracy = md_rows(leaderboard(suite, metric="accuracy"))
    assert accuracy["ce"] == ["**86.00 ± 7.07**"]


def test_error_like_metrics_rank_lower_first(suite):
    rows = md_rows(leaderboard(suite, metric="error"))
    assert rows["ce"] == ["**14.00 ± 7.07**"] and rows["lpg"] == ["28.00 ± 2.83"]  # 1 - (0.81, 0.91)
    rows = md_rows(leaderboard(suite, metric="nll"))  # nll = 1 - balanced in the factory, not in %
    assert rows["lpg"] == ["0.280 ± 0.028"] and rows["ce"] == ["**0.150 ± 0.071**"]


def test_latex_bolds_best_underlines_second_and_escapes(tmp_path):
    row = "C10 & co #1 50%"
    for seed in (0, 1):
        for method, value in (("ce", 0.5), ("la_posthoc", 0.7), ("lpg", 0.6)):
            write_result(tmp_path, "ds", method, seed, balanced=value + 0.01 * seed,
                         suite={"name": "s", "dataset_row": row, "method_row": method})
    tex = leaderboard(tmp_path, "latex")
    assert r"\textbf{70.50 $\pm$ 0.71}" in tex
    assert r"\underline{60.50 $\pm$ 0.71}" in tex
    assert r"la\_posthoc" in tex and r"C10 \& co \#1 50\%" in tex
    assert r"\toprule" in tex and r"\midrule" in tex and r"\bottomrule" in tex
    assert tex.isascii()
    check_latex(tex, tmp_path)


def check_latex(tex: str, tmp_path) -> None:
    """Compile with pdflatex when present; otherwise check braces and column counts."""
    if shutil.which("pdflatex"):
        doc = tmp_path / "doc.tex"
        (tmp_path / "table.tex").write_text(tex)
        doc.write_text("\\documentclass{article}\\usepackage{booktabs}\\begin{document}\\input{table.tex}\\end{document}\n")
        done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name],
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout[-2000:]
        return
    unescaped = re.sub(r"\\[{}&%#_$]", "", tex)
    assert unescaped.count("{") == unescaped.count("}")
    body = tex.split("\\begin{tabular}", 1)[1].split("\\end{tabular}", 1)[0]
    spec = re.match(r"\{([lrc]+)\}", body).group(1)
    rows = [line for line in body.splitlines() if "&" in line]
    assert len(rows) >= 3
    for line in rows:
        assert line.endswith("\\\\")
        cells = re.split(r"(?<!\\)&", line)
        width = sum(int(m.group(1)) if (m := re.match(r"\s*\\multicolumn\{(\d+)\}", c)) else 1 for c in cells)
        assert width == len(spec), line


def test_csv_parses_back_to_the_same_numbers(suite):
    rows = list(csv.DictReader(io.StringIO(leaderboard(suite, "csv"))))
    ce = next(r for r in rows if r["method"] == "ce")
    assert float(ce["mean"]) == pytest.approx(85.0) and float(ce["std"]) == pytest.approx(7.0710678, abs=1e-6)
    assert ce["n"] == "2" and ce["rank"] == "1" and ce["unit"] == "%"


def lt_suite(root, seeds=(0, 1)):
    """cifar10 LT-100 (matches 'C10-LT 100') with ce and lpg, shot metrics filled in."""
    for seed in seeds:
        write_result(root, "c10_lt100", "ce", seed, dataset="cifar10", imbalance=100.0,
                     balanced=0.6 + 0.02 * seed, shots=(0.9, 0.6, 0.3 + 0.1 * seed))
        write_result(root, "c10_lt100", "lpg", seed, dataset="cifar10", method="lpg", imbalance=100.0,
                     balanced=0.65, shots=(0.85, 0.62, 0.4))


def test_paper_column_converts_published_error(tmp_path):
    lt_suite(tmp_path)
    text = leaderboard(tmp_path, metric="accuracy")
    rows = md_rows(text)
    assert rows["method"] == ["c10_lt100 reproduced", "c10_lt100 paper", "c10_lt100 many",
                              "c10_lt100 medium", "c10_lt100 few"]
    assert rows["ce"][1] == "70.36" and rows["lpg"][1] == "–"  # 100 - 29.64; no LPG anchor
    assert rows["ce"][4] == "35.00 ± 7.07" and rows["lpg"][4] == "**40.00 ± 0.00**"
    assert "Cao et al. 2019 (LDAM-DRW), Table 2" in text and "shown as 100 - that" in text
    assert md_rows(leaderboard(tmp_path, metric="error"))["ce"][1] == "29.64"
    assert "balanced" in leaderboard(tmp_path)  # balanced accuracy anchors on the balanced test set
    assert "paper" not in md_rows(leaderboard(tmp_path, metric="ece"))["method"][1]


def test_noisy_paper_numbers_are_accuracy(tmp_path):
    for method in ("ce", "gce"):
        write_result(tmp_path, "c10_sym40", method, 0, dataset="cifar10", method=method,
                     noise="sym_incl", noise_rate=0.4)
    rows = md_rows(leaderboard(tmp_path, metric="accuracy"))
    assert rows["ce"][1] == "77.52" and rows["gce"][1] == "87.31"
    assert md_rows(leaderboard(tmp_path, metric="error"))["gce"][1] == "12.69"


def test_failed_runs_are_marked_with_reason_and_epoch(tmp_path):
    write_result(tmp_path, "digits", "ce", 0, balanced=0.8)
    write_result(tmp_path, "digits", "ce", 1, balanced=0.9)
    write_result(tmp_path, "digits", "ce", 2, status="failed", failure={"reason": "loss is NaN", "epoch": 4})
    for seed in (0, 1):
        write_result(tmp_path, "digits", "lpg", seed, status="failed")
    text = leaderboard(tmp_path)
    rows = md_rows(text)
    assert rows["ce"] == ["**85.00 ± 7.07** (failed 1/3)†"]
    assert rows["lpg"] == ["failed (2/2)†"]
    assert "ce on digits, seed 2: loss is NaN (epoch 4)" in text
    assert "lpg on digits, seed 1: training diverged (epoch 2)" in text
    check_latex(leaderboard(tmp_path, "latex"), tmp_path)


def curve(values):
    return [{"epoch": e + 1, "test_accuracy": v, "test_balanced_accuracy": v} for e, v in enumerate(values)]


def test_collapsed_runs_are_counted_marked_and_kept_in_the_mean(tmp_path):
    write_result(tmp_path, "pair", "lpg", 0, balanced=0.66, history=curve([0.5, 0.6, 0.3, 0.66]))  # recovers
    write_result(tmp_path, "pair", "lpg", 1, balanced=0.40, history=curve([0.5, 0.65, 0.14, 0.40]))
    write_result(tmp_path, "pair", "ce", 0, balanced=0.55, history=curve([0.5, 0.67, 0.55]))  # memorizes
    write_result(tmp_path, "pair", "ce", 1, balanced=0.57, history=curve([0.5, 0.66, 0.57]))
    text = leaderboard(tmp_path)
    rows = md_rows(text)
    assert rows["lpg"] == ["53.00 ± 18.38 (collapsed 1/2)‡"]  # (66 + 40) / 2: the collapse stays in
    assert rows["ce"] == ["**56.00 ± 1.41**"]
    assert "lpg on pair, seed 1: 65.0 (epoch 2) -> 40.0, fallen from epoch 3" in text
    assert "more than 20 points below" in text
    assert "(collapsed 1/2)$^\\ddagger$" in leaderboard(tmp_path, "latex")
    lines = list(csv.DictReader(io.StringIO(leaderboard(tmp_path, "csv"))))
    assert {(r["method"], r["collapsed"]) for r in lines} == {("lpg", "1"), ("ce", "0")}


def test_n_is_shown_when_seed_counts_differ(tmp_path):
    for seed in (0, 1, 2):
        write_result(tmp_path, "digits", "ce", seed, balanced=0.8)
    write_result(tmp_path, "digits", "lpg", 0, balanced=0.7)
    rows = md_rows(leaderboard(tmp_path))
    assert rows["ce"] == ["**80.00 ± 0.00** (n=3)"] and rows["lpg"] == ["70.00 (n=1)"]


def test_tables_are_pure_and_written_in_three_formats(tmp_path):
    lt_suite(tmp_path)
    write_result(tmp_path, "digits", "ce", 0)
    first = write_leaderboards(tmp_path)
    assert [p.name for p in first] == ["leaderboard.md", "leaderboard.tex", "leaderboard.csv"]
    before = [p.read_bytes() for p in first]
    assert [p.read_bytes() for p in write_leaderboards(tmp_path)] == before
    assert leaderboard(tmp_path, "latex").encode() == before[1]
    check_latex(before[1].decode(), tmp_path)


def test_cli_prints_and_rejects_unknown_metric(suite, capsys):
    parser = argparse.ArgumentParser()
    add_table_parser(parser.add_subparsers(dest="command"))
    assert cmd_table(parser.parse_args(["table", str(suite), "--format", "csv", "--write"])) == 0
    out = capsys.readouterr().out
    assert out.startswith("method,dataset_row,") and "leaderboard.tex" in out
    with pytest.raises(UserError, match="unknown metric 'acuracy'.*Did you mean 'accuracy'"):
        cmd_table(parser.parse_args(["table", str(suite), "--metric", "acuracy"]))


def noisy_history(peak: float, last: float) -> list[dict]:
    """Three epochs of test accuracy: rising to ``peak`` at epoch 2, ending at ``last``."""
    return [{"epoch": e, "test_accuracy": a, "test_balanced_accuracy": a} for e, a in
            ((1, peak - 0.1), (2, peak), (3, last))]


def test_noisy_rows_get_an_unranked_peak_column_from_the_history(tmp_path):
    # ce memorizes (peak 0.70/0.60 -> last 0.50/0.52); gce keeps its peak to the end.
    for seed, (ce_peak, ce_last) in enumerate([(0.70, 0.50), (0.60, 0.52)]):
        write_result(tmp_path, "sym40", "ce", seed, noise="sym_excl", noise_rate=0.4, balanced=ce_last,
                     history=noisy_history(ce_peak, ce_last))
        write_result(tmp_path, "sym40", "gce", seed, method="gce", noise="sym_excl", noise_rate=0.4,
                     balanced=0.66, history=noisy_history(0.66, 0.66))
    for seed in (0, 1):
        write_result(tmp_path, "clean", "ce", seed, balanced=0.9)  # no noise: no peak column
    rows = md_rows(leaderboard(tmp_path))
    assert rows["method"] == ["clean", "sym40", "sym40 peak"]
    assert rows["ce"][1:] == ["51.00 ± 1.41", "65.00 ± 7.07"]
    assert rows["gce"][1:] == ["**66.00 ± 0.00**", "66.00 ± 0.00"]  # the peak is never bold
    csv_rows = list(csv.DictReader(io.StringIO(leaderboard(tmp_path, "csv"))))
    peak = next(r for r in csv_rows if r["method"] == "ce" and r["column"] == "peak")
    assert float(peak["mean"]) == pytest.approx(65.0) and peak["rank"] == ""
    assert "sym40 peak" in leaderboard(tmp_path) and "memorized" in leaderboard(tmp_path)
    assert "peak" not in md_rows(leaderboard(tmp_path, metric="nll"))["method"][-1]  # no per-epoch nll
    check_latex(leaderboard(tmp_path, "latex"), tmp_path)
