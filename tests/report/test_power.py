import math

import pytest

from lpg_meta.report.power import minimum_detectable_effect, seeds_for_effect


def test_mde_by_hand() -> None:
    # n = 3: t_{0.975, 2} = 4.302653, t_{0.8, 2} = 1.060660; (4.302653 + 1.060660) / sqrt(3) = 3.09651
    assert minimum_detectable_effect(3) == pytest.approx((4.302653 + 1.060660) / math.sqrt(3), abs=1e-5)
    # n = 10: t_{0.975, 9} = 2.262157, t_{0.8, 9} = 0.883404 -> 0.99470; with sd 2 points, twice that
    assert minimum_detectable_effect(10, 2.0) == pytest.approx(2 * (2.262157 + 0.883404) / math.sqrt(10), abs=1e-5)
    assert minimum_detectable_effect(1) is None


def test_mde_falls_with_n_and_alpha() -> None:
    values = [minimum_detectable_effect(n) for n in range(2, 30)]
    assert all(a > b for a, b in zip(values, values[1:], strict=False))
    assert minimum_detectable_effect(5, alpha=0.01) > minimum_detectable_effect(5, alpha=0.05)


def test_seeds_for_effect() -> None:
    assert seeds_for_effect(1.0) == 10  # MDE(9) = 1.065 > 1 >= MDE(10) = 0.995
    assert seeds_for_effect(3.2) == 3
    with pytest.raises(ValueError, match="positive"):
        seeds_for_effect(0)
