"""The theory report's certificate section on a fabricated certificates.csv whose answers are known."""

from __future__ import annotations

import csv

import pytest
from test_collect import write_result

from lpg_meta.cli import main
from lpg_meta.report import load_results
from lpg_meta.report.stats import holm_adjust
from lpg_meta.report.theory_certificates import (
    across_certificates,
    certificate_rows,
    read_certificates,
    tightenings,
)
from lpg_meta.results import CERTIFICATES_NAME

# row -> method -> (certificate, test error) at seed 0; seeds add jitter so paired differences vary.
# Six rows where LPG is tighter by 0.1 (and 0.01 more per row), one where both are vacuous.
CERTS = {f"bal{i}": {"ce": (0.40, 0.10), "lpg": (0.30 - 0.01 * i, 0.08), "gce": (0.50, 0.12)} for i in range(6)}
CERTS["lt"] = {"ce": (0.95, 0.30), "lpg": (0.97, 0.28)}


def _fabricate(root, certs=CERTS) -> None:
    rows = []
    for ds, methods in certs.items():
        for m, (cert, error) in methods.items():
            for seed in range(3):
                write_result(root, ds, m, seed, method=m, accuracy=1 - error)
                jitter = 0.01 * seed * (seed + 1) / 2 * (m == "lpg")
                rows.append({"row": ds, "method": m, "seed": seed, "variant": "init", "certificate": cert - jitter,
                             "kl": 100.0, "n": 1000, "mc_train_error": 0.05, "mc_train_error_upper": 0.06,
                             "test_error_q": error + 0.01, "test_error_w": error, "delta": 0.05, "delta_mc": 0.01})
    with (root / CERTIFICATES_NAME).open("w", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_known_answers(tmp_path) -> None:
    _fabricate(tmp_path)
    results = load_results(tmp_path)
    rows = certificate_rows(results, read_certificates(tmp_path / CERTIFICATES_NAME))
    bal = next(r for r in rows if r.dataset == "bal0")
    assert bal.tau == pytest.approx(1.0)  # the certificate orders the methods' test errors exactly
    assert [r.p_adjusted for r in rows] == pytest.approx(holm_adjust([r.p for r in rows]))  # over the 7 rows
    items = {(t.dataset, t.lpg): t for t in tightenings(results, rows)}
    assert set(items) == {(f"bal{i}", "lpg") for i in range(6)} | {("lt", "lpg")}  # gce has no LPG row
    tight = items[("bal2", "lpg")]
    assert tight.base == "ce" and tight.diff.n == 3 and tight.verdict == "supports"
    assert tight.diff.mean_diff == pytest.approx(-0.12 - 0.04 / 3)
    # Holm over the six testable pairs (the vacuous row is not among them)
    raw = [items[(f"bal{i}", "lpg")].diff.p_value for i in range(6)]
    assert [items[(f"bal{i}", "lpg")].p_adjusted for i in range(6)] == pytest.approx(holm_adjust(raw))
    assert items[("lt", "lpg")].verdict == "cannot be decided (vacuous on every seed)"
    assert items[("lt", "lpg")].p_adjusted is None
    [across] = across_certificates(list(items.values()))
    assert across.datasets == [f"bal{i}" for i in range(6)] and across.left_out == ["lt"]
    # six negative differences: the exact two-sided signed-rank p is 2 / 2^6
    assert across.across.p_value == pytest.approx(2 / 64) and across.across.verdict == "supported"
    assert across.across.p_better > 0.99 and across.across.p_worse == 0.0  # "better" is the tighter side


def test_too_few_rows_cannot_decide(tmp_path) -> None:
    _fabricate(tmp_path, {k: CERTS[k] for k in ("bal0", "bal1", "lt")})
    results = load_results(tmp_path)
    items = tightenings(results, certificate_rows(results, read_certificates(tmp_path / CERTIFICATES_NAME)))
    [across] = across_certificates(items)
    assert across.across.verdict == "cannot be decided with 2 rows" and across.across.p_value is None


def test_theory_command_adds_the_section_only_where_certificates_exist(tmp_path, capsys) -> None:
    _fabricate(tmp_path / "runs")
    assert main(["theory", str(tmp_path / "runs")]) == 0
    md = (tmp_path / "runs" / "theory.md").read_text()
    assert "## Optimised PAC-Bayes certificates" in md
    assert ('Verdict on "LPG tightens the generalization guarantee", variant `init`, over 6 rows (lt left out: '
            "vacuous on both sides): supported") in md
    (tmp_path / "runs" / CERTIFICATES_NAME).unlink()
    assert main(["theory", str(tmp_path / "runs")]) == 0
    assert "certificates" not in (tmp_path / "runs" / "theory.md").read_text()
    capsys.readouterr()


def test_the_section_says_whether_the_union_bound_covers_tuning() -> None:
    from lpg_meta.report.theory_certificates import _tuning_note

    def record(cell: str, candidates: str, blind: str) -> dict[str, str]:
        row, method = cell.split("/")
        return {"row": row, "method": method, "candidates": candidates, "candidates_blind": blind}

    assert _tuning_note([record("a/ce", "1", "True")]) == ""  # nothing tuned, nothing to say
    covered = _tuning_note([record("a/ce", "1", "True"), record("a/lpg", "2", "True")])
    assert "(2 values a cell)" in covered and "do not cover" not in covered
    guided = _tuning_note([record("a/lpg", "2", "True"), record("b/lpg", "40", "False")])
    assert "1 cell (b/lpg) had trials guided by earlier scores" in guided
    assert "not recorded" in _tuning_note([record("a/lpg", "2", "True"), {"row": "b", "method": "ce"}])
