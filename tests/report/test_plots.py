"""Plots: a PDF per print width under OUT/plots, holding exactly the data of the results."""

from __future__ import annotations

import argparse
import re

import numpy as np
import pytest
from test_collect import write_result

from lpg_meta.report import add_plot_parser, cmd_plot, load_results
from lpg_meta.report.plots import make_plots, plot_trajectories, write_plots


def assert_pdfs(stem) -> None:
    """The figure ``stem`` is two one-page PDFs, ``<stem>_column.pdf`` 3.25 in and ``<stem>_text.pdf`` 6.75 in wide."""
    for size, points in (("column", 234), ("text", 486)):  # 72 pt an inch
        data = (stem.parent / f"{stem.name}_{size}.pdf").read_bytes()
        assert data[:5] == b"%PDF-"
        (box,) = re.findall(rb"/MediaBox \[ *0 0 ([0-9.]+) ([0-9.]+) *\]", data)
        assert float(box[0]) == points and 100 < float(box[1]) < 72 * 9, (stem.name, size, box)


def test_trajectory_plot_draws_the_seed_mean_of_the_files(tmp_path):
    seed0 = [[0.0, 0.0, 0.0], [0.1, -0.2, 0.3], [0.2, -0.4, 0.5]]
    seed1 = [[0.0, 0.0, 0.0], [0.3, -0.2, 0.1], [0.4, -0.6, 0.7], [9.0, 9.0, 9.0]]  # one epoch longer
    write_result(tmp_path, "lt", "lpg", 0, method="lpg", trajectory=seed0)
    write_result(tmp_path, "lt", "lpg", 1, method="lpg", trajectory=seed1)
    write_result(tmp_path, "lt", "lpg", 2, method="lpg", status="failed")  # no trajectory: ignored
    write_result(tmp_path, "lt", "ce", 0)  # not an LPG run: no plot
    (plot,) = plot_trajectories(load_results(tmp_path), tmp_path / "plots")
    assert plot.path == tmp_path / "plots" / "trajectory_lt" and plot.panel == "lpg"
    assert_pdfs(plot.path)
    np.testing.assert_array_equal(plot.x, [1, 2, 3])  # cut to the shortest seed
    expected = (np.array(seed0) + np.array(seed1[:3])) / 2
    assert sorted(plot.series) == ["class 0", "class 1", "class 2"]
    for c in range(3):
        np.testing.assert_allclose(plot.series[f"class {c}"], expected[:, c])


def test_per_class_plot_orders_classes_by_train_count_with_seed_spread(tmp_path):
    counts = [50, 500, 5]
    for seed, acc in ((0, [0.6, 0.9, 0.1]), (1, [0.8, 0.9, 0.3])):
        write_result(tmp_path, "lt10", "ce", seed, imbalance=10.0, per_class=acc, train_counts=counts)
    write_result(tmp_path, "balanced", "ce", 0)  # not long-tailed: no per-class plot
    plots = make_plots(load_results(tmp_path), tmp_path)
    (plot,) = [p for p in plots if p.kind == "per_class"]
    assert plot.path.name == "per_class_lt10"
    assert_pdfs(plot.path)
    np.testing.assert_array_equal(plot.x, [1, 0, 2])  # 500, 50, 5 training samples
    np.testing.assert_allclose(plot.series["ce"], [90.0, 70.0, 20.0])
    np.testing.assert_allclose(plot.errors["ce"], [0.0, np.sqrt(200.0), np.sqrt(200.0)])  # 60/80, 10/30


def test_learning_curves_band_is_the_seed_std(tmp_path):
    for seed in (0, 1):
        history = [{"epoch": e, "test_balanced_accuracy": 0.1 * e + 0.02 * seed} for e in (1, 2, 3)]
        write_result(tmp_path, "digits", "ce", seed, history=history)
    (plot,) = [p for p in make_plots(load_results(tmp_path), tmp_path) if p.kind == "curves"]
    np.testing.assert_array_equal(plot.x, [1, 2, 3])
    np.testing.assert_allclose(plot.series["ce"], [11.0, 21.0, 31.0])
    np.testing.assert_allclose(plot.errors["ce"], [np.sqrt(2.0)] * 3)


def test_cd_diagram_per_protocol_holds_the_average_ranks_when_friedman_rejects(tmp_path):
    # six balanced rows, one order everywhere: ranks 1, 2, 3 and F = inf, p = 0
    for d in "abcdef":
        for m, v in zip(("ce", "gce", "lpg"), (0.9, 0.8, 0.7), strict=True):
            write_result(tmp_path, d, m, 0, method=m, balanced=v)
    write_result(tmp_path, "a", "ls", 0, method="ls", balanced=0.5)  # one row only: named, not ranked
    (plot,) = [p for p in make_plots(load_results(tmp_path), tmp_path) if p.kind == "cd"]
    assert plot.path.name == "cd_balanced" and plot.panel == "balanced"
    assert_pdfs(plot.path)
    assert {k: float(v[0]) for k, v in plot.series.items()} == {"ce": 1.0, "gce": 2.0, "lpg": 3.0}


def test_cd_diagram_is_a_note_when_friedman_does_not_reject(tmp_path):
    for d, values in (("a", (0.9, 0.8, 0.7)), ("b", (0.6, 0.8, 0.7))):  # ranks (1, 2, 3) and (3, 1, 2)
        for m, v in zip(("ce", "gce", "lpg"), values, strict=True):
            write_result(tmp_path, d, m, 0, method=m, balanced=v)
    paths = write_plots(load_results(tmp_path), tmp_path)
    assert not [p for p in paths if p.name.startswith("cd_") and p.suffix != ".txt"]
    note = (tmp_path / "plots" / "cd_balanced.txt").read_text()
    assert note.startswith("Balanced protocol: Friedman's test over 2 data sets and 3 methods does not reject")


def test_noise_plot_needs_several_rates(tmp_path):
    for rate, accs in ((0.2, (0.8, 0.7)), (0.4, (0.6, 0.65))):
        for seed in (0, 1):
            for method, acc in zip(("ce", "gce"), accs, strict=True):
                write_result(tmp_path, f"sym{int(rate * 100)}", method, seed, noise="sym_excl",
                             noise_rate=rate, accuracy=acc + 0.02 * seed, method=method)
    write_result(tmp_path, "pair40", "ce", 0, noise="pair", noise_rate=0.4)  # a single rate: no plot
    (plot,) = [p for p in make_plots(load_results(tmp_path), tmp_path) if p.kind == "noise"]
    assert_pdfs(plot.path)
    np.testing.assert_allclose(plot.x, [0.2, 0.4])
    np.testing.assert_allclose(plot.series["ce"], [81.0, 61.0])
    np.testing.assert_allclose(plot.series["gce"], [71.0, 66.0])
    np.testing.assert_allclose(plot.errors["ce"], [np.sqrt(2.0)] * 2)


def test_cli_writes_each_figure_at_both_widths_the_same_bytes_when_redrawn(tmp_path, capsys):
    write_result(tmp_path, "lt", "lpg", 0, method="lpg", imbalance=10.0, trajectory=[[0.1, 0.2, 0.3], [0.2, 0.1, 0.3]])
    first = write_plots(load_results(tmp_path), tmp_path)
    assert sorted(p.name for p in first) == ["cd_long-tail.txt", "curves_lt_column.pdf", "curves_lt_text.pdf",
                                             "per_class_lt_column.pdf", "per_class_lt_text.pdf",
                                             "trajectory_lt_column.pdf", "trajectory_lt_text.pdf"]
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == sorted(p.name for p in first)  # no PNG
    before = [p.read_bytes() for p in first]
    assert write_plots(load_results(tmp_path), tmp_path) == first and [p.read_bytes() for p in first] == before
    parser = argparse.ArgumentParser()
    add_plot_parser(parser.add_subparsers(dest="command"))
    assert cmd_plot(parser.parse_args(["plot", str(tmp_path)])) == 0
    captured = capsys.readouterr()
    assert "curves_lt_text.pdf" in captured.err and not captured.out  # status lines on stderr


def test_a_trajectory_that_never_moves_is_named_not_drawn(tmp_path):
    write_result(tmp_path, "lt", "lpg", 0, method="lpg", trajectory=[[0.1, -0.1], [0.2, -0.2]])
    write_result(tmp_path, "lt", "fixed", 0, method="lpg", trajectory=[[0.5, 0.0], [0.5, 0.0]])
    results = load_results(tmp_path)
    assert [p.panel for p in plot_trajectories(results, tmp_path / "plots")] == ["lpg"]
    titles = []

    def record(fig, *args, **kwargs):
        titles.append(fig.get_suptitle())

    with pytest.MonkeyPatch.context() as patch:
        from matplotlib.figure import Figure

        patch.setattr(Figure, "savefig", record)
        plot_trajectories(results, tmp_path / "plots")
    named = f"constant over training, not drawn: {results.layout.method_name('fixed')}"
    assert len(titles) == 2 and all(" ".join(title.split()).endswith(named) for title in titles), titles
    write_result(tmp_path, "flat", "fixed", 0, method="lpg", trajectory=[[0.5, 0.0], [0.5, 0.0]])
    plots = plot_trajectories(load_results(tmp_path), tmp_path / "plots")
    assert [p.path.name for p in plots] == ["trajectory_lt"]  # the flat row: no figure


def test_a_figure_that_fails_while_being_written_leaves_no_file(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    seed0 = [[0.1, -0.1], [0.2, -0.2]]
    write_result(tmp_path, "lt", "lpg", 0, method="lpg", trajectory=seed0)
    results = load_results(tmp_path)

    def disk_full(self, target, **kwargs):
        if hasattr(target, "write"):
            target.write(b"%PDF- half a figure")
        else:
            (tmp_path / "plots" / "trajectory_lt_column.pdf").write_bytes(b"%PDF- half a figure")
        raise OSError("No space left on device")

    monkeypatch.setattr(Figure, "savefig", disk_full)
    with pytest.raises(OSError, match="No space"):
        plot_trajectories(results, tmp_path / "plots")
    assert sorted((tmp_path / "plots").iterdir()) == []  # no half figure, no temporary file


def test_figures_are_print_sized_with_truetype_fonts_and_7pt_text(tmp_path, monkeypatch, pdf_font_types):
    from matplotlib.figure import Figure
    from matplotlib.text import Text

    from lpg_meta.report.figure_style import MIN_FONT_PT, SIZES

    seen = []
    savefig = Figure.savefig

    def check(fig, target, **kwargs):
        name = getattr(target, "name", str(target))
        seen.append((round(fig.get_figwidth(), 2), name))
        sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text()]
        assert min(sizes) >= MIN_FONT_PT, (name, min(sizes))
        return savefig(fig, target, **kwargs)

    monkeypatch.setattr(Figure, "savefig", check)
    history = [{"epoch": e, "test_balanced_accuracy": 0.1 * e} for e in (1, 2)]
    for seed in (0, 1):
        write_result(tmp_path, "lt", "lpg", seed, method="lpg", imbalance=10.0,
                     trajectory=[[0.1, 0.2, 0.3], [0.2, 0.1, 0.3 + seed]], per_class=[0.5, 0.6, 0.7],
                     train_counts=[50, 10, 5], history=history)
        write_result(tmp_path, "lt", "ce", seed, method="ce", imbalance=10.0, per_class=[0.4, 0.6, 0.7],
                     train_counts=[50, 10, 5], history=history)
    paths = write_plots(load_results(tmp_path), tmp_path)
    assert sorted(p.name for p in paths if p.suffix == ".pdf") == sorted(
        f"{name}_{size}.pdf" for name in ("curves_lt", "per_class_lt", "trajectory_lt") for size in SIZES)
    assert sorted(width for width, _ in seen) == sorted(list(SIZES.values()) * 3)  # each drawn at its width
    for stem in ("curves_lt", "per_class_lt", "trajectory_lt"):
        assert_pdfs(tmp_path / "plots" / stem)
    for pdf in (p for p in paths if p.suffix == ".pdf"):
        types = pdf_font_types(pdf)
        assert types and set(types) <= {"TrueType", "CID TrueType"}, (pdf.name, types)
