"""Hand-computed checks of the classification metrics (docs/method.md §6)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from lpg_meta.train.metrics import classification_metrics, expected_calibration_error, shot_groups

# Five samples, three classes. Logits are log-probabilities, so softmax returns these rows.
PROBS = [
    [0.70, 0.20, 0.10],  # y=0, pred 0, right, conf 0.70 -> bin 10 = (10/15, 11/15] = (0.667, 0.733]
    [0.72, 0.18, 0.10],  # y=1, pred 0, wrong, conf 0.72 -> bin 10 as well
    [0.05, 0.90, 0.05],  # y=1, pred 1, right, conf 0.90 -> bin 13 = (0.867, 0.933]
    [0.25, 0.30, 0.45],  # y=2, pred 2, right, conf 0.45 -> bin 6  = (0.400, 0.467]
    [0.20, 0.50, 0.30],  # y=2, pred 1, wrong, conf 0.50 -> bin 7  = (0.467, 0.533]
]
LABELS = [0, 1, 1, 2, 2]

# accuracy = 3 right of 5 = 0.6; per class: class 0 1/1, class 1 1/2, class 2 1/2.
# balanced = (1 + 0.5 + 0.5) / 3 = 2/3.
# NLL = -(ln .70 + ln .18 + ln .90 + ln .45 + ln .30) / 5 (probability of the true class).
# ECE, weighted by bin size (n = 5):
#   bin 10: acc 1/2, conf (.70 + .72)/2 = .71 -> |.5 - .71| * 2/5 = .084
#   bin 13: acc 1,   conf .90               -> .10 * 1/5         = .020
#   bin 6:  acc 1,   conf .45               -> .55 * 1/5         = .110
#   bin 7:  acc 0,   conf .50               -> .50 * 1/5         = .100
#   ECE = .314
# Wrong variants differ: the unweighted mean over non-empty bins is (.21+.10+.55+.50)/4 = .34;
# 14 bins (linspace(0, 1, 15) edges at 0.643, 0.714) split .70 and .72: .06+.144+.02+.11+.1 = .434.
EXPECTED_NLL = (
    -(math.log(0.70) + math.log(0.18) + math.log(0.90) + math.log(0.45) + math.log(0.30)) / 5
)
EXPECTED_ECE = 0.314


def _case(dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.tensor(PROBS, dtype=torch.float64).log().to(dtype), torch.tensor(LABELS)


def test_hand_computed_three_class_case() -> None:
    logits, y = _case()
    m = classification_metrics(logits, y, num_classes=3)
    assert m["num_samples"] == 5
    assert m["accuracy"] == pytest.approx(0.6, abs=1e-12)
    assert m["error"] == pytest.approx(0.4, abs=1e-12)
    assert m["balanced_accuracy"] == pytest.approx(2 / 3, abs=1e-12)
    assert m["per_class"] == pytest.approx([1.0, 0.5, 0.5], abs=1e-12)
    assert m["nll"] == pytest.approx(EXPECTED_NLL, abs=1e-12)
    assert m["ece"] == pytest.approx(EXPECTED_ECE, abs=1e-12)
    assert "many_shot" not in m


def test_float32_logits_give_the_same_numbers() -> None:
    logits, y = _case(torch.float32)
    m = classification_metrics(logits, y, num_classes=3)
    assert m["nll"] == pytest.approx(EXPECTED_NLL, abs=1e-6)
    assert m["ece"] == pytest.approx(EXPECTED_ECE, abs=1e-6)
    assert m["accuracy"] == pytest.approx(0.6, abs=1e-12)


def test_ece_bins_are_right_closed_and_size_weighted() -> None:
    # Four bins with exact binary edges 0.25, 0.5, 0.75. Confidences 0.75 (right) and
    # 0.625 (wrong) share bin (0.5, 0.75]: acc 1/2, conf 0.6875 -> ECE = 0.1875.
    # Left-closed bins [0.75, 1) would split them: .25 * 1/2 + .625 * 1/2 = 0.4375.
    probs = torch.tensor([[0.75, 0.25], [0.625, 0.375]], dtype=torch.float64)
    y = torch.tensor([0, 1])
    assert expected_calibration_error(probs, y, bins=4) == pytest.approx(0.1875, abs=1e-15)
    # Confidence 1.0 belongs to the last bin; a right, certain prediction is calibrated.
    certain = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    assert expected_calibration_error(certain, torch.tensor([0]), bins=15) == 0.0
    # Weighting: three right samples at conf 0.55 and one wrong at 0.95, 10 bins.
    # (0.5, 0.6]: |1 - .55| * 3/4 = .3375; (0.9, 1.0]: |0 - .95| * 1/4 = .2375 -> .575.
    # The unweighted mean over bins would be (.45 + .95)/2 = .7.
    probs = torch.tensor([[0.55, 0.45]] * 3 + [[0.95, 0.05]], dtype=torch.float64)
    y = torch.tensor([0, 0, 0, 1])
    assert expected_calibration_error(probs, y, bins=10) == pytest.approx(0.575, abs=1e-12)


def _onehot_logits(pred: list[int], num_classes: int) -> torch.Tensor:
    return 5.0 * torch.nn.functional.one_hot(torch.tensor(pred), num_classes).double()


# Per-class recall: c0 1/2, c1 1, c2 0, c3 2/3, c4 1, c5 1, c6 absent from the labels.
SHOT_Y = [0, 0, 1, 2, 2, 3, 3, 3, 4, 5]
SHOT_PRED = [0, 1, 1, 0, 0, 3, 3, 1, 4, 5]
SHOT_COUNTS = [50, 40, 30, 10, 9, 100, 0]


def test_shot_groups_with_custom_thresholds() -> None:
    # many > 40: c0, c5; few < 10: c4, c6; medium 10..40 inclusive: c1, c2, c3.
    assert shot_groups(SHOT_COUNTS, many_threshold=40, few_threshold=10) == {
        "many_shot": [0, 5],
        "medium_shot": [1, 2, 3],
        "few_shot": [4, 6],
    }
    m = classification_metrics(
        _onehot_logits(SHOT_PRED, 7),
        torch.tensor(SHOT_Y),
        7,
        SHOT_COUNTS,
        many_threshold=40,
        few_threshold=10,
    )
    assert m["per_class"][:6] == pytest.approx([0.5, 1.0, 0.0, 2 / 3, 1.0, 1.0])
    assert m["per_class"][6] is None
    assert m["many_shot"] == pytest.approx((0.5 + 1.0) / 2)
    assert m["medium_shot"] == pytest.approx((1.0 + 0.0 + 2 / 3) / 3)
    assert m["few_shot"] == pytest.approx(1.0)  # c6 is absent from the labels, so only c4 counts
    # Balanced accuracy averages the six present classes only.
    assert m["balanced_accuracy"] == pytest.approx((0.5 + 1 + 0 + 2 / 3 + 1 + 1) / 6)
    assert m["accuracy"] == pytest.approx(6 / 10)  # 1 + 1 + 0 + 2 + 1 + 1 right of 10


def test_shot_groups_with_default_thresholds() -> None:
    # many > 100: none (100 itself is medium); few < 20: c3, c4, c6; medium: c0, c1, c2, c5.
    m = classification_metrics(_onehot_logits(SHOT_PRED, 7), torch.tensor(SHOT_Y), 7, SHOT_COUNTS)
    assert m["many_shot"] is None
    assert m["medium_shot"] == pytest.approx((0.5 + 1.0 + 0.0 + 1.0) / 4)
    assert m["few_shot"] == pytest.approx((2 / 3 + 1.0) / 2)


def test_result_is_strict_json() -> None:
    m = classification_metrics(_onehot_logits(SHOT_PRED, 7), torch.tensor(SHOT_Y), 7, SHOT_COUNTS)
    back = json.loads(json.dumps(m, allow_nan=False))
    assert back["per_class"][6] is None and back["many_shot"] is None
    assert all(
        isinstance(back[k], float) for k in ("accuracy", "error", "balanced_accuracy", "nll", "ece")
    )


def test_non_finite_nll_becomes_null() -> None:
    logits = torch.tensor([[0.0, -math.inf]])
    m = classification_metrics(logits, torch.tensor([1]), 2)
    assert m["nll"] is None and m["accuracy"] == 0.0


def test_ties_go_to_the_lowest_class() -> None:
    m = classification_metrics(torch.zeros(2, 3), torch.tensor([0, 1]), 3)
    assert m["per_class"] == [1.0, 0.0, None]


@pytest.mark.parametrize(
    "logits, y, kwargs",
    [
        (torch.zeros(2, 3), torch.tensor([0, 3]), {}),  # label out of range
        (torch.zeros(2, 4), torch.tensor([0, 1]), {}),  # wrong width
        (torch.zeros(3, 3), torch.tensor([0, 1]), {}),  # row/label count mismatch
        (torch.zeros(0, 3), torch.tensor([], dtype=torch.long), {}),  # nothing to evaluate
        (torch.zeros(2, 3), torch.tensor([0, 1]), {"train_counts": [1, 2]}),  # counts length
        (
            torch.zeros(2, 3),
            torch.tensor([0, 1]),
            {"train_counts": [1, 2, 3], "few_threshold": 200},
        ),
    ],
)
def test_bad_inputs_are_rejected(logits: torch.Tensor, y: torch.Tensor, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        classification_metrics(logits, y, 3, **kwargs)
