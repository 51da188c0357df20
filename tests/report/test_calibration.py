"""The claims' decision rules on simulated suites shaped like the committed CPU suite (the real code path).

Small simulations, so that the test stays fast; benchmarks/claims_calibration.py runs 200 suites
per setting and writes results/bench/claims_calibration.json.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from lpg_meta.catalog.methods import PROPOSED
from lpg_meta.report.calibration import (
    cell_means,
    replication_agreement,
    simulate,
    structure,
    verdict_rates,
    with_seeds,
)
from lpg_meta.report.claims import check_claims
from lpg_meta.report.layout import method_family
from lpg_meta.report.tidy import load_results

RUNS = Path(__file__).resolve().parents[2] / "results" / "cpu" / "runs.csv"
ALPHA = 0.05


@pytest.fixture(scope="module")
def shape():
    return structure(load_results(RUNS))


def test_the_simulated_suite_keeps_the_committed_structure(shape):
    real = load_results(RUNS)
    fake = simulate(shape, np.random.default_rng(0))
    assert fake.present() == {c for c in real.present() if real.get(*c, "balanced_accuracy")}
    assert [(c.dataset, c.method, c.baseline, c.same_as) for c in check_claims(fake)] == \
        [(c.dataset, c.method, c.baseline, c.same_as) for c in check_claims(real)]  # repeats stay repeats
    assert sorted(fake.get("mnist1d_pair", "lpg", "balanced_accuracy")) == \
        sorted(real.get("mnist1d_pair", "lpg", "balanced_accuracy"))  # each cell's seeds kept
    assert 0.001 < shape.row_sd["digits_bal"] < shape.row_sd["mnist1d_pair"]


def test_under_the_null_false_verdicts_stay_within_alpha(shape):
    suites = 30
    rates = verdict_rates(shape, suites, seed=11)
    families = [k for k in rates if not k.startswith("all/")]
    # pooled over the 6 families (protocol x claim) and the suites: any non-null comparison verdict
    pooled = sum(rates[k]["family_any_non_null"] for k in families) / len(families)
    trials = suites * len(families)
    assert pooled <= ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / trials), rates
    protocol = [rates[k]["protocol_non_null"] for k in rates]
    # only 'all' (8 rows) can reach a verdict: the protocols have 2 or 4 rows, fewer than the 6 it needs
    assert all(rates[k]["protocol_non_null"] == 0 for k in families)
    assert sum(protocol) / 2 <= ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / (2 * suites)), rates


def test_an_effect_of_5_points_on_every_row_is_found_across_rows(shape):
    rates = verdict_rates(shape, 12, seed=5, effect=0.05)
    # the benchmark's 200 suites measure the power; here: well above the null rate, never contradicted
    assert rates["all/outperforms"]["protocol_supported"] >= 0.5, rates
    assert rates["all/plug_in"]["protocol_supported"] >= 0.5, rates
    assert all(r["protocol_non_null"] == r["protocol_supported"] for r in rates.values())


def test_replicas_of_a_design_whose_effects_dwarf_the_noise_agree_on_every_verdict(shape):
    # every LPG row 50 points above the rest, the noise sd at most a few points: each comparison (LPG against a
    # non-LPG row, LPG+X against X) is supported in both replicas, and the 8-row protocol verdicts too
    means = {(ds, m): 0.2 + (0.5 if method_family(shape.layout.method_of(m)) == PROPOSED else 0.0)
             for ds, m in shape.seeds}
    agreement = replication_agreement(shape, means, trials=2, seed=1)
    assert agreement["comparisons_same"] == agreement["comparisons_same_p05"] == 1.0
    assert agreement["protocols_same"] == 1.0


def test_under_the_null_replicas_agree_where_neither_finds_anything(shape):
    # every cell at one mean: each replica's comparisons are non-null with probability at most alpha per
    # family (Holm), so two replicas disagree on a small share of them only
    means = {cell: 0.7 for cell in shape.seeds}
    agreement = replication_agreement(with_seeds(shape, 3), means, trials=3, seed=2)
    assert 0.95 <= agreement["comparisons_same"] <= 1.0
    assert with_seeds(shape, 3).seeds[("mnist1d_pair", "lpg")] == [0, 1, 2]


def test_cell_means_are_the_real_cells_means(shape):
    real = load_results(RUNS)
    values = real.get("mnist1d_pair", "lpg", "balanced_accuracy")
    assert cell_means(real, shape)[("mnist1d_pair", "lpg")] == pytest.approx(sum(values.values()) / len(values))


def test_the_calibration_benchmark_writes_its_rates(tmp_path):
    import json
    import subprocess
    import sys

    out = tmp_path / "calibration.json"
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "claims_calibration.py"
    subprocess.run([sys.executable, str(script), "--null-suites", "3", "--suites", "2", "--effects", "5",
                    "--out", str(out)], check=True, capture_output=True, text=True)
    data = json.loads(out.read_text())
    assert data["null_suites"] == 3 and set(data) >= {"null", "null_pooled", "effect_5_points", "row_sd_points"}
    assert set(data["null"]["noisy/outperforms"]) == {"family_any_non_null", "protocol_non_null",
                                                      "protocol_supported", "comparison_non_null",
                                                      "comparison_supported"}


def test_the_replication_benchmark_writes_its_agreement(tmp_path):
    import json
    import subprocess
    import sys

    out = tmp_path / "replication.json"
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "verdict_replication.py"
    subprocess.run([sys.executable, str(script), "--seeds", "3", "--trials", "1", "--out", str(out)], check=True,
                   capture_output=True, text=True)
    data = json.loads(out.read_text())
    assert set(data["by_seeds"]) == {"3"} and 0.0 <= data["by_seeds"]["3"]["comparisons_same"] <= 1.0
