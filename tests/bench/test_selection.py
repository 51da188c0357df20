"""Choosing between tuning trials: scores in validation images, a margin, ties to the earlier trial."""

from fractions import Fraction

import pytest

from lpg_meta.bench.selection import Score, choose, score


def test_score_counts_images_over_the_last_epochs_of_every_seed():
    # 100 validation images; seed A's last 2 epochs 0.80, 0.83; seed B's 0.90, 0.91 -> 80+83+90+91 = 344 images.
    found = score([[0.10, 0.80, 0.83], [0.5, 0.90, 0.91]], images=100, last_epochs=2)
    assert found == Score(units=344, measurements=4) and found.images == Fraction(86)
    assert score([[0.7]], 100, 3) == Score(70, 1)  # a shorter curve counts what it has


def test_float_noise_below_one_image_gives_the_same_score():
    # 0.1 + 0.2 style float error: 0.83 computed two ways differs in the last bits, not in images.
    a = score([[0.83, 0.81 + 0.02]], 100, 2)
    b = score([[0.83, 0.83]], 100, 2)
    assert 0.81 + 0.02 != 0.83 and a == b


def test_ties_and_leads_within_the_margin_keep_the_earlier_trial():
    trial0, trial1 = Score(250, 3), Score(252, 3)  # trial 1 leads by 2/3 of an image on average
    assert choose([trial0, trial1], margin=1.0) == 0
    assert choose([trial0, Score(250, 3)], margin=0.0) == 0  # an exact tie: the earlier trial
    assert choose([trial0, Score(253, 3)], margin=1.0) == 0  # exactly one image better: not more than the margin
    assert choose([trial0, Score(254, 3)], margin=1.0) == 1  # 4/3 images better: it wins
    assert choose([trial0, trial1], margin=0.0) == 1


def test_the_earliest_trial_within_the_margin_of_the_best_is_chosen():
    scores = [Score(80, 1), Score(90, 1), Score(91, 1), Score(85, 1)]
    assert choose(scores, margin=1.0) == 1  # 90 is within one image of 91 and comes first
    assert choose(scores, margin=0.5) == 2


def test_lower_is_better_metrics_choose_the_smallest():
    errors = [Score(20, 1), Score(18, 1), Score(17, 1)]  # error counted in images
    assert choose(errors, margin=1.0, maximize=False) == 1
    assert choose(errors, margin=0.0, maximize=False) == 2


def test_bad_inputs_raise():
    with pytest.raises(ValueError):
        score([[]], 100, 3)
    with pytest.raises(ValueError):
        choose([], 1.0)
