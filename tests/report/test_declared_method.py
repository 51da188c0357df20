"""A method declared in a test file, with a record the report has never heard of, reaches the
tables, the claims and the plots by its display name: nothing under ``lpg_meta/report`` names it.
So does a per-class series of a new quantity: its trajectory is drawn and labelled as declared."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_collect import write_result

from lpg_meta.bench import parse_suite
from lpg_meta.bench.layout import suite_spec
from lpg_meta.methods.base import Method
from lpg_meta.registry import METHODS, MethodDeclaration, Quantity, Series
from lpg_meta.report import build_tables, check_claims, load_results
from lpg_meta.report.plots import plot_trajectories, plot_weight_share
from lpg_meta.report.render import render_markdown
from lpg_meta.report.tidy import class_curves

SUITE = """
suite: toy
datasets:
  noisy: {source: digits, noise: sym_excl, noise_rate: 0.4}
methods:
  ce: {}
  lpg: {}
  toy: {method: toy_reweight}
seeds: [0, 1, 2]
tuning: {trials: 0}
"""
SHARES = {0: [0.40, 0.30, 0.20], 1: [0.38, 0.28, 0.22], 2: [0.42, 0.32, 0.18]}


@pytest.fixture
def toy_method():
    """``toy_reweight``: declared and registered here, recording ``toy.share_flipped`` per epoch."""
    METHODS.declare(MethodDeclaration(
        name="toy_reweight", module=None, display_name="Toy-RW", description="A test's reweighting method.",
        series=(Series("flipped_weight_share", "toy", "share_flipped", "weight share on flipped samples"),)))

    @METHODS.register("toy_reweight")
    class ToyReweight(Method):
        def record(self) -> dict[str, Any]:
            return {"toy": {"share_flipped": []}}

    yield ToyReweight
    METHODS.remove("toy_reweight")


def write_runs(root: Path) -> None:
    noisy = {"noise": "sym_excl", "noise_rate": 0.4, "data": {"noise": {"realised_rate": 0.4}}}
    for seed in SHARES:
        write_result(root, "noisy", "ce", seed, balanced=0.70 + 0.01 * seed, **noisy)
        write_result(root, "noisy", "lpg", seed, method="lpg", balanced=0.74 + 0.01 * seed, **noisy)
        write_result(root, "noisy", "toy", seed, method="toy_reweight", balanced=0.72 + 0.01 * seed,
                     toy={"share_flipped": SHARES[seed]}, **noisy)


def test_a_declared_method_reaches_tables_claims_and_plots(tmp_path, toy_method):
    assert METHODS.get("toy_reweight") is toy_method and toy_method.display_name == "Toy-RW"
    write_runs(tmp_path / "res")
    results = load_results(tmp_path / "res", suite_spec(parse_suite(SUITE)))
    (table,) = build_tables(results)
    assert table.method_names["toy"] == "Toy-RW" and "| Toy-RW" in render_markdown(table)
    # The default claim: LPG against every row of another method family, this one included.
    claims = check_claims(results)
    assert {(c.method, c.baseline) for c in claims} == {("lpg", "ce"), ("lpg", "toy")}
    (plot,) = plot_weight_share(results, tmp_path / "plots")
    assert plot.path.name == "weight_share_noisy" and list(plot.series) == ["Toy-RW"]
    np.testing.assert_allclose(plot.series["Toy-RW"], np.mean(list(SHARES.values()), axis=0), rtol=1e-5)


def test_its_series_is_dropped_once_it_is_no_longer_declared(tmp_path, toy_method):
    write_runs(tmp_path / "res")
    METHODS.remove("toy_reweight")
    results = load_results(tmp_path / "res")
    assert not [k for k in results.curves if k[3] == "flipped_weight_share"]
    assert plot_weight_share(results, tmp_path / "plots") == []


PERTURB_SUITE = SUITE.replace("  lpg: {}\n", "").replace("toy: {method: toy_reweight}", "toyp: {method: toy_perturb}")
SCALE = Quantity("b_c", "toy per-class scale $b_c$", neutral=1.0)
# seed -> per epoch, one value per class (3 classes recorded)
TRAJECTORY = {0: [[1.0, 1.0, 1.0], [1.2, 0.9, 1.0], [1.4, 0.8, 1.1]],
              1: [[1.0, 1.0, 1.0], [1.1, 0.7, 1.0], [1.3, 0.6, 0.9]],
              2: [[1.0, 1.0, 1.0], [1.3, 0.8, 1.0], [1.5, 0.7, 1.0]]}


@pytest.fixture
def toy_perturbation():
    """``toy_perturb``: declared here, recording a per-class ``toyp.trajectory`` of quantity ``b_c``."""
    METHODS.declare(MethodDeclaration(
        name="toy_perturb", module=None, display_name="Toy-P", description="A test's per-class perturbation.",
        series=(Series("toyp_b_c", "toyp", "trajectory", "b_c", per_class=True, quantities=(SCALE,)),)))

    @METHODS.register("toy_perturb")
    class ToyPerturb(Method):
        pass

    yield ToyPerturb
    METHODS.remove("toy_perturb")


def test_a_declared_per_class_series_is_drawn_as_its_trajectory(tmp_path, toy_perturbation):
    noisy = {"noise": "sym_excl", "noise_rate": 0.4, "data": {"noise": {"realised_rate": 0.4}}}
    for seed, trajectory in TRAJECTORY.items():
        write_result(tmp_path / "res", "noisy", "ce", seed, balanced=0.70 + 0.01 * seed, **noisy)
        write_result(tmp_path / "res", "noisy", "toyp", seed, method="toy_perturb", balanced=0.72 + 0.01 * seed,
                     toyp={"trajectory": trajectory}, **noisy)
    results = load_results(tmp_path / "res", suite_spec(parse_suite(PERTURB_SUITE)))
    ((row, curve, series, quantity),) = class_curves(results, "noisy")
    assert (row, curve, quantity) == ("toyp", "toyp_b_c", SCALE) and series.figure_quantity == SCALE
    (table,) = build_tables(results)
    assert "| Toy-P" in render_markdown(table)
    (plot,) = plot_trajectories(results, tmp_path / "plots")
    assert (plot.path.name, plot.panel) == ("trajectory_noisy", "toyp")
    mean = np.mean(list(TRAJECTORY.values()), axis=0)
    for c in range(3):
        np.testing.assert_allclose(plot.series[f"class {c}"], mean[:, c], rtol=1e-5)
