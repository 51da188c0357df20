"""LPG's per-class perturbation against each class's flip rate: from result files and from the tidy files."""

from __future__ import annotations

import numpy as np
from test_collect import write_result
from test_plots import assert_pdfs

from lpg_meta.report import load_results, make_plots
from lpg_meta.report.class_noise import plot_class_noise
from lpg_meta.report.tidy import NOISE_RATES, read_tidy, write_tidy


def data_record(counts: list[int], realised: float, per_class_rate: list[float] | None) -> dict:
    """``result.json``'s data record of a noisy row (older runs lack ``per_class_rate``)."""
    noise = {"kind": "asym", "rate": 0.4, "realised_rate": realised, "expected_rate": 0.2, "map": {"1": 2}}
    if per_class_rate is not None:
        noise["per_class_rate"] = per_class_rate
    return {"num_classes": 3, "sizes": {"train": sum(counts), "meta": 6, "val": 6, "test": 30},
            "per_class": {"train": counts, "train_clean": [10, 10, 10]}, "noise": noise}


def write_rows(root):
    asym = {"noise": "asym", "noise_rate": 0.4}
    # Seed 0: the LPG run records its rates. Seed 1: an older LPG run without them, and a CE run
    # of the same data (same row, seed, sizes, counts) that has them. Seed 2: nobody has them.
    write_result(root, "asym40", "lpg", 0, method="lpg", trajectory=[[0.0, 0.0, 0.0], [0.1, 0.4, -0.2]],
                 data=data_record([10, 5, 15], 0.5 / 3, [0.0, 0.5, 0.0]), **asym)
    write_result(root, "asym40", "lpg", 1, method="lpg", trajectory=[[0.0, 0.0, 0.0], [0.3, 0.8, -0.6]],
                 data=data_record([10, 7, 13], 0.3 / 3, None), **asym)
    write_result(root, "asym40", "ce", 1, data=data_record([10, 7, 13], 0.3 / 3, [0.0, 0.3, 0.0]), **asym)
    write_result(root, "asym40", "lpg", 2, method="lpg", trajectory=[[9.0, 9.0, 9.0]],
                 data=data_record([10, 6, 14], 0.4 / 3, None), **asym)
    # A symmetric row: every class has the same expected rate, so no figure.
    write_result(root, "sym40", "lpg", 0, method="lpg", trajectory=[[0.1, 0.2, 0.3]], noise="sym_excl",
                 noise_rate=0.4, data=data_record([10, 10, 10], 0.4, [0.4, 0.4, 0.4]))


def check(plots) -> None:
    (plot,) = plots
    assert plot.path.name == "class_noise_asym40" and plot.panel == "lpg"
    assert_pdfs(plot.path)
    # Seeds 0 and 1 (seed 2 has no rates): rates [0, 0.5, 0] and [0, 0.3, 0]; last epochs
    # [0.1, 0.4, -0.2] and [0.3, 0.8, -0.6].
    np.testing.assert_allclose(plot.x, [0.0, 0.4, 0.0], atol=1e-12)
    np.testing.assert_allclose(plot.series["lpg"], [0.2, 0.6, -0.4], rtol=1e-5)


def test_class_noise_plot_reads_each_seeds_last_epoch_and_its_flip_rates(tmp_path):
    write_rows(tmp_path / "res")
    results = load_results(tmp_path / "res")
    # The older seed-1 LPG run took its rates from the CE run of the same data.
    assert sorted(results.curves[("asym40", "lpg", 1, NOISE_RATES)]) == [(None, 0, 0.0), (None, 1, 0.3),
                                                                          (None, 2, 0.0)]
    assert ("asym40", "lpg", 2, NOISE_RATES) not in results.curves
    check(plot_class_noise(results, tmp_path / "plots"))
    assert [p for p in make_plots(results, tmp_path) if p.kind == "class_noise"]


def test_class_noise_plot_is_the_same_from_the_tidy_files(tmp_path):
    write_rows(tmp_path / "res")
    write_tidy(load_results(tmp_path / "res"), tmp_path / "tidy")
    check(plot_class_noise(read_tidy(tmp_path / "tidy" / "runs.csv"), tmp_path / "plots"))


def test_a_different_data_record_does_not_lend_its_rates(tmp_path):
    write_rows(tmp_path / "res")
    # Seed 1's CE run now saw other label counts: not the LPG run's data, so no rates for it.
    write_result(tmp_path / "res", "asym40", "ce", 1, data=data_record([10, 8, 12], 0.2 / 3, [0.0, 0.2, 0.0]),
                 noise="asym", noise_rate=0.4)
    results = load_results(tmp_path / "res")
    assert ("asym40", "lpg", 1, NOISE_RATES) not in results.curves
    (plot,) = plot_class_noise(results, tmp_path / "plots")
    np.testing.assert_allclose(plot.series["lpg"], [0.1, 0.4, -0.2], rtol=1e-5)  # seed 0 alone
