"""``lpg-meta theory``: Spearman with its class-permutation p-value on hand cases, and the
whole report on fabricated result files whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from test_collect import write_result
from test_plots import assert_pdfs

from lpg_meta.cli import main
from lpg_meta.report import load_results, spearman_by_class, write_tidy
from lpg_meta.report.theory import ranking_sentence
from lpg_meta.report.theory_render import analyse, verdict_lines

COUNTS = [100, 60, 40, 20, 15, 10]  # median 30: classes 3, 4, 5 are the tail
RATES = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]


def test_spearman_on_hand_cases() -> None:
    # Three classes, one seed, same order: rho = 1; of the 3! assignments, identity and reversal reach |rho| = 1.
    c = spearman_by_class(np.array([[1.0], [2.0], [3.0]]), np.array([[1.0], [2.0], [3.0]]))
    assert c.rho == pytest.approx(1.0) and c.p_value == pytest.approx(2 / 6)
    # Two seeds, x tied within a class: centred ranks x (-2,-2,0,0,2,2), y (-2.5..2.5): rho = 16 / sqrt(16 * 17.5).
    x, y = np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]), np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    c = spearman_by_class(x, y)
    assert c.rho == pytest.approx(16 / math.sqrt(16 * 17.5)) and c.p_value == pytest.approx(2 / 6)
    assert c.rho == pytest.approx(stats.spearmanr(x.ravel(), y.ravel()).statistic)
    assert (c.classes, c.seeds) == (3, 2)
    assert spearman_by_class(np.ones((4, 2)), y[:1].repeat(4, 0)).rho is None  # constant: no correlation


def test_spearman_beyond_eight_classes_draws_seeded_permutations() -> None:
    x = np.arange(10.0).reshape(10, 1)
    c = spearman_by_class(x, -x)
    # Only identity and reversal reach |rho| = 1: (1 + hits) / (1 + 20,000) with hits ~ 0 (p 2/10! a draw).
    assert c.rho == pytest.approx(-1.0) and c.p_value < 1e-3
    assert spearman_by_class(x, -x) == c  # seeded
    noise = np.random.default_rng(1).random((10, 3))
    assert spearman_by_class(x.repeat(3, 1), noise).p_value > 0.05


def _history(peak: float, last: float) -> list[dict]:
    return [{"epoch": e, "train_loss": 1.0, "test_accuracy": a, "test_balanced_accuracy": a}
            for e, a in ((1, peak - 0.1), (2, peak), (3, last))]


def _fabricate(root) -> None:
    """lt: LPG amplifies tail classes (rho = -1 with count), the bound rises with test error (tau = 1),
    amplifying the tail raises few-shot accuracy and dampening lowers it. asym: LPG amplifies the classes
    noisy by true class (rho = +1: against the conjecture) and dampens those noisy by label (rho = -1: for),
    the bound is vacuous (1) and the KL term falls with test error, dampening the noisy classes widens the
    peak-to-last gap (against)."""
    lt_data = {"num_classes": 6, "per_class": {"train": COUNTS}}
    noisy_data = {"num_classes": 6, "per_class": {"train": [50] * 6},
                  "noise": {"kind": "asym", "rate": 0.4, "per_class_rate": RATES, "per_label_rate": RATES[::-1]}}
    few = {"ce": 0.50, "lpg": 0.55, "lpg_amp_tail": 0.60, "lpg_damp_tail": 0.40}
    last = {"ce": 0.70, "lpg": 0.72, "lpg_damp_noisy": 0.62, "lpg_amp_noisy": 0.71}
    for seed in range(3):
        jitter = 0.01 * seed * (seed + 1) / 2  # 0, .01, .03: paired differences vary, so the t-test has spread
        for k, (m, f) in enumerate(few.items()):
            acc = 0.6 + 0.05 * k + 0.01 * seed
            a = -0.5 if m == "lpg_damp_tail" else 0.5
            lpg = {"quantity": "a_c", "trajectory": [[0, 0, 0, a, a, a]] * 3} if m.startswith("lpg_") else None
            if m == "lpg":
                amp = [[2.0 - n / 100 + 0.001 * seed for n in COUNTS]] * 3  # falls with the count
                lpg = {"quantity": "a_c", "trajectory": [[0.0] * 6] * 3, "amplification": amp}
            write_result(root, "lt", m, seed, method="lpg_fixed" if m.startswith("lpg_") else m, imbalance=10.0,
                         accuracy=acc, shots=(0.9, 0.7, f + (jitter if m != "ce" else 0.0) * (1 if f > 0.5 else -1)),
                         data=lt_data,
                         pac_bayes={"bound": 0.2 + 2 * (1 - acc), "test_error": 1 - acc, "n": 400, "kl": 9.0 - acc},
                         **({"lpg": lpg} if lpg else {}))
        for m, final in last.items():
            acc = final + 0.01 * seed
            gap = 0.1 + (0.1 + jitter if m == "lpg_damp_noisy" else 0.0)
            a = -0.5 if m == "lpg_damp_noisy" else 0.5
            lpg = {"quantity": "a_c", "trajectory": [[0, 0, 0, a, a, a]] * 3} if m.startswith("lpg_") else None
            if m == "lpg":
                lpg = {"quantity": "a_c", "trajectory": [[0.0] * 6] * 3,
                       "amplification": [[1 + r for r in RATES], [1 + r + 0.01 * seed for r in RATES]]}
            write_result(root, "asym", m, seed, method="lpg_fixed" if m.startswith("lpg_") else m,
                         noise="asym", noise_rate=0.4, accuracy=acc, data=noisy_data,
                         history=_history(acc + gap, acc),
                         pac_bayes={"bound": 1.0, "test_error": 1 - acc, "kl": 9 + acc},
                         **({"lpg": lpg} if lpg else {}))


def test_the_report_finds_the_known_answers_from_result_files_and_from_the_tidy_extract(tmp_path) -> None:
    _fabricate(tmp_path / "runs")
    from_files = load_results(tmp_path / "runs")
    write_tidy(from_files, tmp_path)
    for results in (from_files, load_results(tmp_path / "runs.csv")):
        theory = analyse(results)
        bounds = {b.dataset: b for b in theory.bounds}
        lt, asym = bounds["lt"], bounds["asym"]
        assert lt.tau_methods == pytest.approx(1.0) and len(lt.runs) == 12 and not lt.vacuous
        assert lt.tau_kl == pytest.approx(1.0)  # kl falls with accuracy: rises with the test error
        # vacuous: no tau for the bound, only for its KL term (over the 4 methods' means)
        assert asym.vacuous and asym.tau_methods is None and asym.tau_kl == pytest.approx(-1.0)
        assert asym.n_methods == 4
        (noise, label, count) = theory.correlations  # rows in sorted order: asym, lt
        assert (count.data.method, count.half, noise.half) == ("lpg", "tail", "noisy") and noise.applies
        assert label.typical.rho < -0.95 and label.typical.p_value == pytest.approx(2 / 720)
        assert count.typical.rho < -0.95 and count.typical.p_value == pytest.approx(2 / 720)
        assert noise.typical.rho > 0.95 and noise.last.rho > 0.95 and noise.typical.p_value == pytest.approx(2 / 720)
        acts = {i.method: i for i in theory.interventions}
        assert acts["lpg_amp_tail"].classes == [3, 4, 5] and acts["lpg_amp_tail"].action == "amplify"
        assert acts["lpg_amp_tail"].against["ce"].mean_diff == pytest.approx(0.1 + 0.04 / 3)
        assert [acts[m].verdict for m in ("lpg_amp_tail", "lpg_damp_tail", "lpg_damp_noisy")] == ["supports"] * 2 + [
            "contradicts"]
        assert acts["lpg_amp_noisy"].verdict == "no effect shown" and acts["lpg_damp_noisy"].target == "noisy"
        tail, noisy = verdict_lines(results, theory)  # the halves in a fixed order
        assert "Verdict: correlational supported; causal supported" in tail
        assert "Verdict: correlational mixed; causal contradicted" in noisy


def test_cli_writes_markdown_latex_and_figures(tmp_path, capsys, latex) -> None:
    _fabricate(tmp_path / "runs")
    assert main(["table", str(tmp_path / "runs"), "--write", "--out", str(tmp_path)]) == 0
    assert main(["theory", str(tmp_path / "runs.csv")]) == 0
    md = (tmp_path / "theory.md").read_text()
    # 4 methods in the bound's order: τ = 1, yet Kendall's exact p is 2/4! = 0.0833, so the row cannot decide
    assert ("the bound ranks the methods as the test error does: cannot be decided: it orders the 4 methods' mean "
            "test errors exactly, τ = +1.00 (p 0.08333, Holm over the rows 0.08333)") in md
    assert "no: the bound is 1.0000 on every run (vacuous); its KL term ranks the methods with τ = -1.00" in md
    tex = (tmp_path / "theory.tex").read_text()
    # bound (long-tail, noisy), amplification (count; true-class and label noise rate), intervention
    # (tail, noisy): a float and a label each
    assert tex.count("\\begin{tabular}{") == 7 and tex.count("\\label{tab:") == 7
    assert "-theory-amp-count}" in tex and "-theory-amp-noise-label}" in tex
    body = tex.split("\\end{table}")[-1].strip()
    assert not body, f"prose outside the floats: {body[:200]}"
    latex(tex, tmp_path / "tex")  # compiles, and fits one column
    latex(tex, tmp_path / "tex55", "onecolumn")
    for name in ("theory_bound_lt", "theory_bound_asym", "theory_amp_count_lt", "theory_amp_noise_asym",
                 "theory_amp_label_noise_asym"):
        assert_pdfs(tmp_path / "plots" / name)
    assert main(["theory", str(tmp_path / "nope.csv")]) == 2
    assert "nope.csv does not exist" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("bounds", "expected"),
    [([0.9978, 1.0, 0.99995], "no: the bound is 0.9978 to 1.0000 on every run (vacuous)"),
     ([1.0, 0.99999997], "no: the bound is 1.0000 on every run (vacuous)"),
     # three methods in the same order: τ = 1, but Kendall's exact p is 2/3! = 0.333
     ([0.30, 0.45, 0.60], "cannot be decided: it orders the 3 methods' mean test errors exactly, τ = +1.00 "
                          "(p 0.3333, Holm over the rows 0.3333), not significant at α = 0.05")],
)
def test_a_bound_at_or_above_guessing_among_100_classes_ranks_nothing(bounds, expected) -> None:
    from lpg_meta.report.theory import BoundRow

    errors = [0.1, 0.2, 0.3][: len(bounds)]
    runs = [(f"m{i}", 0, b, e) for i, (b, e) in enumerate(zip(bounds, errors, strict=True))]
    result = stats.kendalltau(bounds, errors)
    row = BoundRow("d", runs, float(result.statistic), float(result.pvalue), len(runs),
                   p_methods_adjusted=float(result.pvalue))
    assert ranking_sentence(row).startswith(expected)


def test_a_bound_ranking_is_read_from_its_p_holm_adjusted_over_the_rows(tmp_path) -> None:
    # Two rows of 5 methods whose bound orders the test errors exactly: τ = 1, Kendall's exact p = 2/5! = 1/60
    # each; Holm over the 2 rows: 2/60 = 0.0333 for both, below α: "yes". With one bound order reversed that row
    # reads "no, the reverse"; the KL term (the same in every run) gets no τ.
    from lpg_meta.report.theory import bound_rows

    errors = [0.1, 0.2, 0.3, 0.4, 0.5]
    for ds, sign in (("a", 1), ("b", -1)):
        for i, e in enumerate(errors):
            bound = 0.5 + sign * 0.05 * i
            write_result(tmp_path, ds, f"m{i}", 0, method="ce", test_accuracy=1 - e,
                         pac_bayes={"bound": bound, "test_error": e, "kl": 1.0})
    rows = bound_rows(load_results(tmp_path))
    assert [r.p_methods for r in rows] == [pytest.approx(1 / 60)] * 2
    assert [r.p_methods_adjusted for r in rows] == [pytest.approx(2 / 60)] * 2
    assert [r.tau_kl for r in rows] == [None, None]
    assert ranking_sentence(rows[0]) == ("yes: it orders the 5 methods' mean test errors exactly, τ = +1.00 "
                                         "(p 0.01667, Holm over the rows 0.03333)")
    assert ranking_sentence(rows[1]).startswith("no, the reverse: τ = -1.00 over the 5 methods' means")


def test_typical_amplification_is_the_median_over_epochs_of_the_log(tmp_path) -> None:
    # one class blows up in one of three epochs (a fitted sample with ||g|| near 0): the median ignores it
    from lpg_meta.report.theory import amplification

    amp = [[2.0, 0.5], [1e11, 0.25], [4.0, 1.0]]
    write_result(tmp_path, "lt", "lpg", 0, method="lpg", imbalance=10.0,
                 lpg={"quantity": "a_c", "trajectory": [[0.0, 0.0]] * 3, "amplification": amp})
    typical = amplification(load_results(tmp_path), "lt", "lpg", 0)
    assert typical[0] == pytest.approx(4.0) and typical[1] == pytest.approx(0.5)
