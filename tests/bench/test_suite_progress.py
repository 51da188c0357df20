"""The suite's progress lines: one unit a line off a terminal, validation figures in percent."""

from __future__ import annotations

import io

from lpg_meta.bench.command import format_summary
from lpg_meta.bench.progress import Overall, trial_value


def test_trial_lines_show_accuracies_in_percent_and_other_metrics_as_they_are() -> None:
    log = io.StringIO()
    overall = Overall(2, "smoke", log)
    overall.handle({"kind": "trial", "cell": "lt/lpg", "number": 0, "state": "COMPLETE", "value": 0.59,
                    "metric": "balanced_accuracy", "seconds": 9.26})
    overall.handle({"kind": "run", "cell": "lt/lpg", "seed": 1, "status": "ok", "seconds": 5.0})
    first, second = log.getvalue().splitlines()
    assert first.startswith("[1/2] lt/lpg trial 0 complete val balanced_accuracy 59.00% (9.3s; elapsed ")
    assert second.startswith("[2/2] lt/lpg seed 1 ok (5.0s; elapsed ")
    assert trial_value({"metric": "nll", "value": 0.51234}) == "val nll 0.5123"
    assert trial_value({"metric": "accuracy", "value": None}) == "val accuracy -"


def test_a_rerun_summary_says_done() -> None:
    runs = [{"seed": s, "status": "ok", "trained": False, "test": {"balanced_accuracy": 0.5}} for s in (0, 1)]
    summary = {"cells": [{"cell": "lt/ce", "study": None, "trials_finished": 0, "best_value": None,
                          "tuned_params": {}, "runs": runs}],
               "metric": "balanced_accuracy", "trials_run": 0, "trained": 0, "skipped": 2, "seconds": 3.0,
               "workers": 1, "output": "results/x"}
    text = format_summary(summary)
    assert "| 2/2 " in text and "done: 0 trials and 0 runs trained now, 2 runs already done" in text
    runs[1]["status"] = "missing"
    assert "1 of 2 runs still missing:" in format_summary(summary)
