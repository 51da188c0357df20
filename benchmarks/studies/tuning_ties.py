"""How often a suite's tuning trials tie on the validation metric.

Reads a suite's Optuna journal (read-only) and counts, per cell, whether the best value is shared
by more than one complete trial; with 10 validation images a class, balanced accuracy moves in
steps of 1/(10 K) and two trials often land on the same value. Writes JSON and Markdown.

    python benchmarks/studies/tuning_ties.py /work/main/results/cpu/optuna.journal \
        --out results/studies/tuning_budget/ties
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState


def cell_ties(journal: Path) -> list[dict]:
    """One record per tuning study: its cell, complete values, and whether the best is tied."""
    # A read-only copy would need the lock file; JournalFileBackend only reads on load.
    store = JournalStorage(JournalFileBackend(str(journal)))
    out = []
    for summary in optuna.get_all_study_summaries(store, include_best_trial=False):
        if summary.study_name.endswith(".runs"):
            continue
        study = optuna.load_study(study_name=summary.study_name, storage=store)
        values = [t.value for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
        if not values:
            continue
        best = max(values) if study.direction == optuna.study.StudyDirection.MAXIMIZE else min(values)
        # Balanced accuracy is a mean of per-class accuracies: equal values can differ in the last
        # bits (0.91 as 0.9100000000000001 or 0.9099999999999999), and such a tie is then decided
        # by rounding. Ties within 1e-9 count as ties; exact ones are counted apart.
        out.append({"cell": study.user_attrs.get("cell", summary.study_name), "values": values,
                    "tied_best": sum(abs(v - best) < 1e-9 for v in values) > 1,
                    "tied_best_exactly": sum(v == best for v in values) > 1,
                    "all_equal": len(set(values)) == 1})
    return out


def nll_choice(results: Path, cell: str, values: list[float]) -> dict | None:
    """Which of trials 0 and 1 the validation NLL would pick, from their saved runs (if both exist)."""
    runs = [results / cell / "tuning" / f"trial{n:03d}.json" for n in (0, 1)]
    if len(values) != 2 or not all(p.exists() for p in runs):
        return None
    metrics = [json.loads(p.read_text())["metrics"] for p in runs]
    nll = [m["val"]["nll"] for m in metrics]
    by_accuracy = 0 if values[0] >= values[1] else 1  # as the suite picked: the larger float
    # the seed-0 test balanced accuracy of each trial's run: what each pick would have scored
    return {"val_nll": nll, "pick_accuracy": by_accuracy, "pick_nll": 0 if nll[0] <= nll[1] else 1,
            "test_balanced_accuracy": [m["test"]["balanced_accuracy"] for m in metrics]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("journal", type=Path)
    parser.add_argument("--results", type=Path, help="the suite's output folder (default: the journal's)")
    parser.add_argument("--out", type=Path, required=True, help="path stem: writes STEM.json and STEM.md")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    cells = cell_ties(args.journal)
    for c in cells:  # the trial runs sit beside the journal, in the suite's output folder
        c["nll"] = nll_choice(args.results or args.journal.parent, c["cell"], c["values"])
    with_nll = [c for c in cells if c["nll"] is not None]
    agree = sum(c["nll"]["pick_accuracy"] == c["nll"]["pick_nll"] for c in with_nll)
    tied_nll = [c for c in with_nll if c["tied_best"]]
    differ = [c["nll"] for c in with_nll if c["nll"]["pick_accuracy"] != c["nll"]["pick_nll"]]
    test_gain = [n["test_balanced_accuracy"][n["pick_nll"]] - n["test_balanced_accuracy"][n["pick_accuracy"]]
                 for n in differ]
    multi = [c for c in cells if len(c["values"]) > 1]
    by_row = Counter(c["cell"].split("/")[0] for c in multi if c["tied_best"])
    summary = {"journal": str(args.journal), "cells": len(cells), "cells_with_2plus_complete": len(multi),
               "tied_best": sum(c["tied_best"] for c in multi),
               "tied_best_exactly": sum(c["tied_best_exactly"] for c in multi),
               "tied_by_row": dict(sorted(by_row.items())),
               "cells_with_both_trial_runs": len(with_nll), "nll_agrees_with_accuracy": agree,
               "tied_cells_nll_picks_trial_1": sum(c["nll"]["pick_nll"] == 1 for c in tied_nll),
               "tied_cells_with_runs": len(tied_nll),
               "picks_differ": len(differ),
               "nll_pick_minus_accuracy_pick_test_seed0": test_gain,
               "records": cells}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(summary, indent=1) + "\n")
    lines = [f"# Validation ties in {args.journal.name}", "",
             f"{summary['tied_best']} of {len(multi)} cells with two or more complete trials have their best "
             f"validation value shared by two trials (within 1e-9; {summary['tied_best_exactly']} of them to the last "
             "bit, where the tie goes to trial 0, the untuned values; in the others the larger float won, i.e. "
             "rounding decided).", "",
             f"Validation NLL (of the same two runs) picks the same trial as balanced accuracy in {agree} of "
             f"{len(with_nll)} two-trial cells; in the {len(tied_nll)} tied ones it picks the drawn trial 1 in "
             f"{summary['tied_cells_nll_picks_trial_1']}. Where the two picks differ ({len(differ)} cells), the NLL "
             "pick's seed-0 test balanced accuracy minus the accuracy pick's: mean "
             f"{100 * sum(test_gain) / max(1, len(test_gain)):+.2f} points, NLL pick better in "
             f"{sum(g > 0 for g in test_gain)}, worse in {sum(g < 0 for g in test_gain)} "
             "(one seed, the tuning seed: a hint, not a test).", "",
             "| row | tied cells |", "|---|---|"] + [f"| {r} | {n} |" for r, n in sorted(by_row.items())]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
