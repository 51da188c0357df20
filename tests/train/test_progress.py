"""Per-epoch lines: validation and test figures in percent, kept above the bar on a terminal."""

from __future__ import annotations

import io

from lpg_meta.train.progress import Progress, epoch_line

STATS = {"train_loss": 0.41234, "val_accuracy": 0.812, "val_balanced_accuracy": 0.8, "test_accuracy": 0.75,
         "test_balanced_accuracy": None}


def test_epoch_line_prints_accuracies_in_percent() -> None:
    line = epoch_line("mnist1d/ce/s0", 2, 8, STATS, 4.06)
    assert line == ("[mnist1d/ce/s0] epoch 3/8 train loss 0.4123, val acc. 81.20%, val bal. acc. 80.00%, "
                    "test acc. 75.00%, test bal. acc. - (4.1s elapsed)")


def test_bar_mode_keeps_each_epoch_line_after_the_bar_closes() -> None:
    stream = io.StringIO()
    progress = Progress("bar", 4, "run", stream)
    for epoch in range(2):
        for _ in range(2):
            progress.step(0.5)
        progress.epoch(epoch, 2, STATS)
    progress.close()
    text = stream.getvalue()
    assert "epoch 1/2" in text and "epoch 2/2" in text and "val acc. 81.20%" in text


def test_log_mode_prints_a_line_and_none_prints_nothing() -> None:
    log, quiet = io.StringIO(), io.StringIO()
    Progress("log", 4, "run", log).epoch(0, 2, STATS)
    Progress("none", 4, "run", quiet).epoch(0, 2, STATS)
    assert log.getvalue().startswith("[run] epoch 1/2 train loss") and quiet.getvalue() == ""
