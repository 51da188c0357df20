"""The weight-share figure of noisy rows: exactly the seed means of the recorded series."""

from __future__ import annotations

import numpy as np
from test_collect import write_result
from test_plots import assert_pdfs

from lpg_meta.report import load_results
from lpg_meta.report.plots import plot_weight_share


def test_weight_share_plot_draws_the_seed_mean(tmp_path):
    shares = {0: [0.40, 0.20, None], 1: [0.42, 0.10, 0.30]}
    for seed, share in shares.items():
        record = {"flipped_weight_share": share, "weight_auc_clean_vs_flipped": [0.5, 0.9, 0.7]}
        write_result(tmp_path, "sym40", "mwnet_norm", seed, method="mwnet", noise="sym_excl",
                     noise_rate=0.4, mwnet=record, data={"noise": {"realised_rate": 0.4}})
    write_result(tmp_path, "sym40", "ce", 0, noise="sym_excl", noise_rate=0.4)  # no record: no line
    write_result(tmp_path, "bal", "l2rw", 0, method="l2rw", l2rw={"zero_fraction": [0.5]})  # clean row
    (plot,) = plot_weight_share(load_results(tmp_path), tmp_path / "plots")
    assert plot.path == tmp_path / "plots" / "weight_share_sym40"
    assert_pdfs(plot.path)
    (series,) = plot.series.values()  # one method row
    # Epoch 3: seed 0 logged nothing (null), so the mean is seed 1's alone. The tidy curves keep
    # 6 significant digits.
    np.testing.assert_allclose(series, [0.41, 0.15, 0.30], rtol=1e-5)


def test_weight_series_survive_the_tidy_files(tmp_path):
    from lpg_meta.report.tidy import read_tidy, write_tidy

    record = {"flipped_weight_share": [0.4, 0.25], "weight_auc_clean_vs_flipped": [0.5, 0.875]}
    write_result(tmp_path / "res", "sym40", "l2rw", 0, method="l2rw", noise="sym_excl", noise_rate=0.4,
                 l2rw=record)
    results = load_results(tmp_path / "res")
    write_tidy(results, tmp_path / "tidy")
    (plot,) = plot_weight_share(read_tidy(tmp_path / "tidy" / "runs.csv"), tmp_path / "plots")
    (series,) = plot.series.values()
    np.testing.assert_allclose(series, [0.4, 0.25], rtol=1e-5)
