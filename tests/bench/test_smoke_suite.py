"""The shipped smoke suite end to end: its tables, claims and plots appear and hold the result files' numbers.

Recomputes every table cell and every plotted series straight from the ``result.json`` files
(independently of the report code), so a table or plot that drifts from its data fails here;
every LaTeX table the run writes is compiled with pdflatex.
"""

import csv
import json
import os
import stat
import statistics
from pathlib import Path

import numpy as np
import pytest
import yaml

from lpg_meta.cli import main
from lpg_meta.report import load_results
from lpg_meta.report.plots import make_plots

SMOKE = Path(__file__).resolve().parents[2] / "benchmarks" / "smoke.yaml"


@pytest.fixture(scope="module")
def smoke_output(tmp_path_factory):
    """Run benchmarks/smoke.yaml exactly as shipped, only its output moved to a temporary folder."""
    folder = tmp_path_factory.mktemp("smoke")
    suite = yaml.safe_load(SMOKE.read_text())
    suite["output"] = str(folder / "out")
    path = folder / "smoke.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    previous = os.umask(0o022)  # the usual umask: files a run writes should be readable by all
    try:
        assert main(["run", str(path)]) == 0
    finally:
        os.umask(previous)
    return folder / "out", suite


def test_every_file_the_suite_writes_is_readable_by_group_and_others(smoke_output):
    # Collaborators share one output folder (README, cluster section); mkstemp's 0600 hid results.
    out, _ = smoke_output
    files = [p for p in out.rglob("*") if p.is_file()]
    kinds = {p.suffix for p in files}
    assert {".json", ".md", ".tex", ".csv", ".pdf"} <= kinds
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) & 0o044 == 0o044, f"{path}: {oct(path.stat().st_mode)}"


def result_files(root: Path) -> dict[tuple[str, str], list[dict]]:
    cells: dict[tuple[str, str], list[dict]] = {}
    for path in sorted(root.glob("*/*/seed*/result.json")):
        data = json.loads(path.read_text())
        cells.setdefault((data["suite"]["dataset_row"], data["suite"]["method_row"]), []).append(data)
    return cells


def test_every_cell_and_seed_has_a_finished_result(smoke_output):
    root, suite = smoke_output
    cells = result_files(root)
    assert sorted(cells) == sorted((d, m) for d in suite["datasets"] for m in suite["methods"])
    for runs in cells.values():
        assert sorted(r["seed"] for r in runs) == suite["seeds"]
        assert all(r["status"] == "ok" for r in runs)


def test_leaderboards_hold_the_mean_and_std_of_the_result_files(smoke_output):
    root, _ = smoke_output
    for name in ("leaderboard.md", "leaderboard.tex", "leaderboard.csv", "leaderboard_balanced.tex",
                 "leaderboard_long-tail.tex", "claims.md", "claims.tex", "claims.csv", "runs.csv", "curves.csv.gz",
                 "theory.md", "theory.tex", "hyperparameters.tex", "hyperparameters.csv", "run_settings.csv"):
        assert (root / name).stat().st_size > 0
    rows = list(csv.DictReader((root / "leaderboard.csv").open()))
    markdown = (root / "leaderboard.md").read_text()
    tex = (root / "leaderboard.tex").read_text()
    checked = 0
    for (dataset, method), runs in result_files(root).items():
        values = [100 * r["metrics"]["test"]["balanced_accuracy"] for r in runs]
        mean, std = statistics.fmean(values), statistics.stdev(values)
        (row,) = [r for r in rows if r["method"] == method and r["dataset"] == dataset
                  and r["quantity"] == "balanced_accuracy" and r["column"] == "main"]
        assert float(row["mean"]) == pytest.approx(mean, abs=1e-9)
        assert float(row["std"]) == pytest.approx(std, abs=1e-9)
        assert int(row["n"]) == len(values)
        shown = {"ce": "CE", "lpg": "LPG", "lpg_scale": "LPG-scale"}[method]  # the classes' display names
        line = next(line for line in markdown.split("### ")[1 if dataset == "balanced" else 2].splitlines()
                    if line.startswith(f"| {shown} "))
        assert f"{mean:.2f} ± {std:.2f}" in line
        assert f"{mean:.2f}" in tex
        checked += 1
    assert checked == 6


def test_long_tail_column_has_the_shot_breakdown_of_the_files(smoke_output):
    root, _ = smoke_output
    rows = list(csv.DictReader((root / "leaderboard.csv").open()))
    for (dataset, method), runs in result_files(root).items():
        if dataset != "longtail":
            continue
        for shot in ("many_shot", "medium_shot", "few_shot"):
            values = [100 * r["metrics"]["test"][shot] for r in runs]
            (row,) = [r for r in rows if r["method"] == method and r["dataset"] == dataset
                      and r["quantity"] == shot]
            assert float(row["mean"]) == pytest.approx(statistics.fmean(values), abs=1e-9)


def test_plots_are_written_and_draw_the_result_files(smoke_output):
    root, _ = smoke_output
    written = sorted(p.name for p in (root / "plots").glob("*.pdf") if not p.name.startswith("theory_"))
    assert written == sorted(f"{name}_{size}.pdf" for size in ("column", "text") for name in (
        "per_class_longtail", "curves_balanced", "curves_longtail", "trajectory_balanced", "trajectory_longtail"))
    # one data set row per protocol: too few to rank, so a note instead of a CD diagram
    assert "too few to rank" in (root / "plots" / "cd_long-tail.txt").read_text()
    # lpg-meta theory's figures (tested in tests/report/test_theory.py): LPG's amplification against
    # the class counts of the long-tail row.
    for size in ("column", "text"):
        assert (root / "plots" / f"theory_amp_count_longtail_{size}.pdf").read_bytes()[:5] == b"%PDF-"
    cells = result_files(root)
    plots = {(p.path.name, p.panel): p for p in make_plots(load_results(root), root)}
    for (dataset, method), runs in cells.items():
        if not method.startswith("lpg"):
            continue
        trajectory = np.mean([np.array(r["lpg"]["trajectory"], dtype=float) for r in runs], axis=0)
        series = plots[(f"trajectory_{dataset}", method)].series
        for c in range(trajectory.shape[1]):
            # curves.csv.gz keeps 6 significant digits: |a_c| < 1, so within 5e-7
            np.testing.assert_allclose(series[f"class {c}"], trajectory[:, c], rtol=0, atol=5e-7)
    per_class = plots[("per_class_longtail", "")]
    for (dataset, method), runs in cells.items():
        if dataset == "longtail":
            expected = 100 * np.mean([r["metrics"]["test"]["per_class"] for r in runs], axis=0)
            shown = {"ce": "CE", "lpg": "LPG", "lpg_scale": "LPG-scale"}[method]
            np.testing.assert_allclose(per_class.series[shown], expected[per_class.x], atol=5e-5)  # 6 digits of %


def test_every_latex_file_compiles_and_fits(smoke_output, fits_every_page, tmp_path):
    root, _ = smoke_output
    names = fits_every_page(root, tmp_path)
    assert {"leaderboard.tex", "leaderboard_balanced_column.tex", "leaderboard_long-tail_text_full.tex",
            "claims.tex", "theory.tex", "hyperparameters.tex"} <= set(names)


def test_tables_from_runs_csv_equal_those_from_the_result_files(smoke_output, tmp_path):
    root, _ = smoke_output
    for fmt in ("md", "latex", "csv"):
        assert main(["table", str(root / "runs.csv"), "--format", fmt, "--out", str(tmp_path)]) == 0
    assert main(["table", str(root / "runs.csv"), "--write", "--out", str(tmp_path)]) == 0
    assert main(["claims", str(root / "runs.csv"), "--out", str(tmp_path)]) == 0
    assert main(["theory", str(root / "runs.csv"), "--out", str(tmp_path)]) == 0
    for name in ("leaderboard.md", "leaderboard.tex", "leaderboard.csv", "claims.md", "claims.tex", "claims.csv",
                 "theory.md", "theory.tex"):
        assert (tmp_path / name).read_bytes() == (root / name).read_bytes(), name
