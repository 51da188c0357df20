"""Paper tables: exact mean ± std, paired-by-seed marks, ranks, W/T/L, layout, and LaTeX that compiles."""

from __future__ import annotations

import argparse
import csv
import io

import pytest
from test_collect import write_result

from lpg_meta.errors import UserError
from lpg_meta.report import add_table_parser, build_tables, cmd_table, leaderboard, load_results
from lpg_meta.report.render import LAYOUTS, render_latex


def md_rows(text: str) -> dict[str, list[str]]:
    """Markdown table body(ies) as {first cell: [cells]}, header included under 'Method'."""
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


def test_cells_hold_mean_and_sample_std_and_paired_marks(suite):
    rows = md_rows(leaderboard(suite))
    assert rows["Method"] == ["digits", "W/T/L vs ce"]
    # (80 + 90) / 2; sqrt(2 * 5^2 / 1). lpg - ce per seed: -10, -16: t = 4.33 on 1 df, p = 0.14: no mark
    assert rows["ce"] == ["85.00 ± 7.07", "–"]
    assert rows["lpg"] == ["72.00 ± 2.83", "0/1/0"]
    # MDE: (t_0.975,1 + t_0.8,1) * sd / sqrt(2) = (12.706 + 1.376) * 4.243 / 1.414 = 42.25 points
    assert "No cell differs significantly from ce in: digits 42.2 at n = 2" in leaderboard(suite)
    assert md_rows(leaderboard(suite, metric="accuracy"))["ce"][0] == "86.00 ± 7.07"


def test_error_like_metrics_rank_lower_first(suite):
    rows = md_rows(leaderboard(suite, metric="error"))
    assert rows["ce"][0] == "14.00 ± 7.07" and rows["lpg"][0] == "28.00 ± 2.83"
    rows = md_rows(leaderboard(suite, metric="nll"))  # nll = 1 - balanced in the factory, not in %
    assert rows["lpg"][0] == "0.280 ± 0.028" and rows["ce"][0] == "0.150 ± 0.071"


def three_protocols(root, seeds=(0, 1, 2)):
    """Rows of every protocol; ce best on 'bal_b', lpg significantly best on 'bal_a' (+5 on every seed)."""
    for s in seeds:
        write_result(root, "bal_a", "ce", s, balanced=0.70 + 0.01 * s)
        write_result(root, "bal_a", "lpg", s, method="lpg", balanced=0.75 + 0.01 * s + 0.001 * s * s)
        write_result(root, "bal_b", "ce", s, balanced=0.90 - 0.02 * s)
        write_result(root, "bal_b", "lpg", s, method="lpg", balanced=0.88 - 0.01 * s)
        for m, method, value in (("ce", "ce", 0.5), ("la", "la", 0.6), ("lpg+la", "lpg+la", 0.62)):
            write_result(root, "lt", m, s, method=method, imbalance=10.0, balanced=value + 0.01 * s,
                         shots=(0.9, 0.5 + 0.01 * s, 0.0))
        write_result(root, "noisy", "ce", s, noise="sym_excl", noise_rate=0.4, balanced=0.5 + 0.01 * s)
        write_result(root, "noisy", "lpg", s, method="lpg", noise="sym_excl", noise_rate=0.4, balanced=0.6)
    return root


SPEC = {"suite": "mini", "datasets": {"bal_b": {"display": "Digits"}, "bal_a": {"display": "MNIST-1D"},
                                      "lt": {"display": "MNIST-1D"}, "noisy": {"display": "Digits"}},
        "methods": {"ce": {"display": "CE", "method": "ce"}, "la": {"display": "LA", "method": "la"},
                    "lpg": {"display": "LPG", "method": "lpg"}, "lpg+la": {"display": "LPG+LA", "method": "lpg+la"}}}


def test_one_table_per_protocol_in_suite_order_with_display_names(tmp_path):
    results = load_results(three_protocols(tmp_path), SPEC)
    tables = build_tables(results)
    assert [t.spec.name for t in tables] == ["balanced", "long-tail", "noisy"]
    balanced, longtail, noisy = tables
    assert balanced.spec.datasets == ["bal_b", "bal_a"]  # the spec's order, not sorted
    assert [balanced.dataset_names[d] for d in balanced.spec.datasets] == ["Digits", "MNIST-1D"]
    assert longtail.dataset_names["lt"] == "MNIST-1D (ρ = 10)"
    assert noisy.dataset_names["noisy"] == "Digits (sym. excl. 40 %)"
    assert longtail.methods == ["ce", "la", "lpg+la"] and longtail.groups == [("", ["ce", "la"]), ("", ["lpg+la"])]
    assert [c.kind for c in longtail.columns] == ["main", "shot", "shot", "shot", "wtl_ref", "wtl_base"]
    assert [c.kind for c in noisy.columns] == ["main", "peak", "wtl_ref"]
    rows = md_rows(leaderboard(tmp_path, spec=SPEC).split("### ")[1])  # the balanced table
    assert rows["Method"][:3] == ["Digits", "MNIST-1D", "Avg. rank"]
    # bal_b: ce 88.00 vs lpg 87.00, ranks 1, 2; bal_a: lpg 76.17 vs ce 71.00, ranks 2, 1: both 1.50
    assert rows["CE"][:4] == ["88.00 ± 2.00", "71.00 ± 1.00", "1.50", "–"]  # the reference is never marked
    # lpg - ce on bal_a: +5, +5.1, +5.4 points, p = 0.002: a win; on bal_b: -2, -1, 0: a tie
    assert rows["LPG"][:4] == ["87.00 ± 1.00", "**76.17 ± 1.20**", "1.50", "1/1/0"]  # bold: better than CE
    lt = md_rows(leaderboard(tmp_path, spec=SPEC).split("### ")[2])
    assert lt["LPG+LA"][-2:] == ["1/0/0", "1/0/0"]  # +12 and +2 points on every seed
    assert lt["CE"][3] == "0.00 ± 0.00"  # an all-zero few-shot column has no mark


def test_declared_tables_keep_groups_overrides_and_reference(tmp_path, latex):
    three_protocols(tmp_path)
    spec = {**SPEC, "tables": [
        {"name": "main", "datasets": ["bal_a", "lt"],
         "groups": [["Baselines", ["ce", "la"]], ["Ours", ["lpg", "lpg+la"]]],
         "metric": "balanced_accuracy", "extra": [], "caption": "Our & their methods", "label": "tab:main",
         "reference": "la", "display": {"lt": "MNIST-1D-LT (ρ = 10)", "lpg+la": "LPG+LA (ours)"}}]}
    (table,) = build_tables(load_results(tmp_path, spec))
    # no rank column: only CE has a value on both rows, and a rank needs two methods
    assert [c.kind for c in table.columns] == ["main", "main", "wtl_ref", "wtl_base"]
    tex = leaderboard(tmp_path, "latex", spec=spec)
    for text in (r"\textit{Baselines}", r"\textit{Ours}", "LPG+LA (ours)", r"\caption{Our \& their methods}",
                 r"\label{tab:main}", "W/T/L", "vs LA", r"($\rho$ = 10)", r"\begin{table*}"):
        assert text in tex, text
    assert tex.count("Holm") == 2 and tex.isascii()  # the marks' note and the W/T/L note
    latex(tex, tmp_path / "tex")


def test_tables_csv_and_markdown_agree(tmp_path, latex):
    rows = list(csv.DictReader(io.StringIO(leaderboard(three_protocols(tmp_path), "csv", spec=SPEC))))
    latex(leaderboard(tmp_path, "latex", spec=SPEC), tmp_path / "tex")
    lpg = next(r for r in rows if r["method"] == "lpg" and r["dataset"] == "bal_a" and r["column"] == "main")
    assert float(lpg["mean"]) == pytest.approx(76.1666667, abs=1e-6) and lpg["mark"] == "better" and lpg["n"] == "3"
    assert lpg["method_display"] == "LPG" and lpg["table"] == "balanced" and lpg["unit"] == "%"
    rank = next(r for r in rows if r["method"] == "ce" and r["column"] == "rank")
    assert rank["text"] == "1.50"


def test_failed_runs_are_marked_with_reason_and_epoch(tmp_path, latex):
    write_result(tmp_path, "digits", "ce", 0, balanced=0.8)
    write_result(tmp_path, "digits", "ce", 1, balanced=0.9)
    write_result(tmp_path, "digits", "ce", 2, status="failed", failure={"reason": "loss is NaN", "epoch": 4})
    for seed in (0, 1):
        write_result(tmp_path, "digits", "lpg", seed, status="failed")
    text = leaderboard(tmp_path)
    rows = md_rows(text)
    assert rows["ce"][0] == "85.00 ± 7.07 (failed 1/3)†"
    assert rows["lpg"][0] == "failed (2/2)†"
    assert "ce on digits, seed 2: loss is NaN (epoch 4)" in text
    assert "lpg on digits, seed 1: training diverged (epoch 2)" in text
    latex(leaderboard(tmp_path, "latex"), tmp_path / "tex")


def test_n_is_shown_when_seed_counts_differ_and_one_seed_is_said(tmp_path):
    for seed in (0, 1, 2):
        write_result(tmp_path, "digits", "ce", seed, balanced=0.8 + 0.01 * seed)
    write_result(tmp_path, "digits", "lpg", 0, balanced=0.7)
    text = leaderboard(tmp_path)
    rows = md_rows(text)
    assert rows["ce"][0] == "81.00 ± 1.00 (n=3)" and rows["lpg"][0] == "70.00 (n=1)"  # one pair: no test


def lt_suite(root, seeds=(0, 1)):
    """cifar10 LT-100 (matches 'C10-LT 100') with ce and lpg, shot metrics filled in."""
    for seed in seeds:
        write_result(root, "c10_lt100", "ce", seed, dataset="cifar10", imbalance=100.0,
                     balanced=0.6 + 0.02 * seed, shots=(0.9, 0.6, 0.3 + 0.1 * seed))
        write_result(root, "c10_lt100", "lpg", seed, dataset="cifar10", method="lpg", imbalance=100.0,
                     balanced=0.65, shots=(0.85, 0.62, 0.4))


def test_paper_column_converts_published_error(tmp_path, latex):
    lt_suite(tmp_path)
    text = leaderboard(tmp_path, metric="accuracy")
    rows = md_rows(text)
    assert rows["Method"][:5] == ["c10_lt100 (ρ = 100) Acc.", "c10_lt100 (ρ = 100) Paper", "c10_lt100 (ρ = 100) Many",
                                  "c10_lt100 (ρ = 100) Med.", "c10_lt100 (ρ = 100) Few"]
    assert rows["ce"][1] == "70.36" and rows["lpg"][1] == "–"  # 100 - 29.64; no LPG anchor
    assert rows["ce"][4] == "35.00 ± 7.07" and rows["lpg"][4] == "40.00 ± 0.00"  # few: 30/40 vs 40/40, p = 0.5
    assert "Cao et al. 2019 (LDAM-DRW), Table 2" in text and "100 minus that" in text
    assert md_rows(leaderboard(tmp_path, metric="error"))["ce"][1] == "29.64"
    assert "Paper" not in md_rows(leaderboard(tmp_path, metric="ece"))["Method"][1]
    latex(leaderboard(tmp_path, "latex"), tmp_path / "tex")


def noisy_history(peak: float, last: float) -> list[dict]:
    """Three epochs of test accuracy: rising to ``peak`` at epoch 2, ending at ``last``."""
    return [{"epoch": e, "test_accuracy": a, "test_balanced_accuracy": a} for e, a in
            ((1, peak - 0.1), (2, peak), (3, last))]


def curve(values: list[float]) -> list[dict]:
    return [{"epoch": e + 1, "test_accuracy": v, "test_balanced_accuracy": v} for e, v in enumerate(values)]


def test_collapsed_runs_are_counted_marked_and_kept_in_the_mean(tmp_path, latex):
    write_result(tmp_path, "pair", "lpg", 0, method="lpg", balanced=0.66, history=curve([0.5, 0.6, 0.3, 0.66]))
    write_result(tmp_path, "pair", "lpg", 1, method="lpg", balanced=0.40, history=curve([0.5, 0.65, 0.14, 0.40]))
    write_result(tmp_path, "pair", "ce", 0, balanced=0.55, history=curve([0.5, 0.67, 0.55]))  # memorizes: 12 points
    write_result(tmp_path, "pair", "ce", 1, balanced=0.57, history=curve([0.5, 0.66, 0.57]))
    text = leaderboard(tmp_path)
    rows = md_rows(text)
    assert rows["lpg"][0] == "53.00 ± 18.38 (collapsed 1/2)‡"  # (66 + 40) / 2: the collapse stays in
    assert "collapsed" not in rows["ce"][0]
    assert "pair: lpg (seed 1)." in text and "more than 20 points below" in text
    tex = leaderboard(tmp_path, "latex")
    assert "$^{\\ddagger1}$" in tex
    latex(tex, tmp_path / "tex")
    lines = list(csv.DictReader(io.StringIO(leaderboard(tmp_path, "csv"))))
    assert {(r["method"], r["collapsed"]) for r in lines if r["column"] == "main"} == {("lpg", "1"), ("ce", "0")}


def test_noisy_rows_get_an_unmarked_peak_column_from_the_history(tmp_path):
    for seed, (ce_peak, ce_last) in enumerate([(0.70, 0.50), (0.60, 0.52)]):
        write_result(tmp_path, "sym40", "ce", seed, noise="sym_excl", noise_rate=0.4, balanced=ce_last,
                     history=noisy_history(ce_peak, ce_last))
        write_result(tmp_path, "sym40", "gce", seed, method="gce", noise="sym_excl", noise_rate=0.4,
                     balanced=0.66, history=noisy_history(0.66, 0.66))
    rows = md_rows(leaderboard(tmp_path))
    assert rows["Method"][:2] == ["sym40 (sym. excl. 40 %) Bal. acc.", "sym40 (sym. excl. 40 %) Peak"]
    assert rows["ce"][:2] == ["51.00 ± 1.41", "65.00 ± 7.07"]  # gce - ce: +15, +14: p = 0.02 on 1 df
    assert rows["gce"][:2] == ["**66.00 ± 0.00**", "66.00 ± 0.00"]  # the peak is never marked
    assert "Peak" not in md_rows(leaderboard(tmp_path, metric="nll"))["Method"][1]  # no per-epoch nll


def test_widest_default_tables_fit_a_two_column_page(tmp_path, latex):
    """Four noisy rows with peaks, two long-tail rows with shots, 20 methods: the CPU suite's shape."""
    methods = [f"method_{i:02d}" for i in range(19)] + ["lpg+gce"]
    for s in (0, 1, 2):
        for d in ("mnist1d_sym", "mnist1d_pair", "digits_sym", "digits_asym"):
            for i, m in enumerate(methods):
                write_result(tmp_path, d, m, s, method=m, noise="sym_excl", noise_rate=0.4,
                             balanced=0.5 + 0.01 * i + 0.003 * s, history=noisy_history(0.9, 0.5))
        for d in ("mnist1d_lt", "digits_lt"):
            for i, m in enumerate(methods):
                write_result(tmp_path, d, m, s, method=m, imbalance=100.0, balanced=0.6 + 0.01 * i - 0.002 * s,
                             shots=(0.95, 0.55, 0.123))
    for s in range(3, 10):  # ten seeds on some noisy cells (extra_seeds): the n goes to a note, not the cells
        for d in ("mnist1d_sym", "mnist1d_pair", "digits_sym", "digits_asym"):
            for i, m in enumerate(methods[:4]):
                write_result(tmp_path, d, m, s, method=m, noise="sym_excl", noise_rate=0.4,
                             balanced=0.5 + 0.01 * i + 0.003 * s, history=noisy_history(0.9, 0.5))
    tex = leaderboard(tmp_path, "latex")
    assert tex.count("\\begin{table*}") == 2
    assert r"Seeds per cell: 3, except 10 for method\_00, method\_01, method\_02, method\_03 on every data set." in tex
    assert "(n=" not in tex
    latex(tex, tmp_path / "tex")
    # every other layout fits its page too: blocks stacked, floats split where the height needs it
    tables = build_tables(load_results(tmp_path))
    for target, compact in LAYOUTS:
        for table in tables:
            text = render_latex(table, target, compact)
            latex(text, tmp_path / f"{table.spec.name}-{target}-{compact}", "onecolumn" if target == "text" else
                  "twocolumn")
            if target == "column" and not compact and table.spec.name == "noisy":
                assert text.count("\\begin{tabular}{@{}l") > 1  # four data sets do not fit side by side


def test_cli_prints_writes_and_rejects_unknown_metric(suite, capsys, latex):
    parser = argparse.ArgumentParser()
    add_table_parser(parser.add_subparsers(dest="command"))
    assert cmd_table(parser.parse_args(["table", str(suite), "--format", "csv", "--write"])) == 0
    captured = capsys.readouterr()  # the document alone on stdout, what was written on stderr
    assert captured.out.startswith("table,method,") and "wrote" not in captured.out
    assert "leaderboard_balanced.tex" in captured.err and "runs.csv" in captured.err
    latex((suite / "leaderboard_balanced.tex").read_text(), suite / "tex")
    with pytest.raises(UserError, match="unknown metric 'acuracy'.*Did you mean 'accuracy'"):
        cmd_table(parser.parse_args(["table", str(suite), "--metric", "acuracy"]))
