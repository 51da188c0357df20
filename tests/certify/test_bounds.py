"""The certificate's arithmetic against hand-computed numbers."""

from __future__ import annotations

import math

import pytest
import torch

from lpg_meta.certify import bounds


def test_kl_inverse_has_the_closed_form_at_zero_error() -> None:
    # kl(0 ‖ p) = −ln(1 − p), so kl(0 ‖ p) ≤ ln 2 exactly up to p = 1/2
    assert bounds.kl_inverse_upper(0.0, math.log(2)) == pytest.approx(0.5, abs=1e-9)
    # kl(0.1 ‖ 0.3) = 0.1 ln(1/3) + 0.9 ln(0.9/0.7) = 0.1163218: the inverse at that value is 0.3
    c = 0.1 * math.log(0.1 / 0.3) + 0.9 * math.log(0.9 / 0.7)
    assert c == pytest.approx(0.1163218, abs=1e-7)
    assert bounds.kl_inverse_upper(0.1, c) == pytest.approx(0.3, abs=1e-9)


def test_monte_carlo_bound_by_hand() -> None:
    # 100 draws, mean error 0, δ_mc = 0.01: kl(0 ‖ p) ≤ ln(100)/100, p = 1 − 0.01^(1/100) = 0.0450074
    assert bounds.mc_upper(0.0, 100, 0.01) == pytest.approx(0.0450074, abs=1e-6)
    # 4 draws, mean 0.25, δ_mc = 0.5: the p > 0.25 with 0.25 ln(0.25/p) + 0.75 ln(0.75/(1 − p)) = ln(2)/4
    p = bounds.mc_upper(0.25, 4, 0.5)
    assert 0.25 * math.log(0.25 / p) + 0.75 * math.log(0.75 / (1 - p)) == pytest.approx(math.log(2) / 4, abs=1e-9)
    assert p == pytest.approx(0.539296, abs=1e-6)  # the root of that equation (scipy.optimize.brentq)


def test_union_bound_over_the_prior_grid_by_hand() -> None:
    # KL 10, n 100, δ_pb 0.04, 33 priors: (10 + ln(2·10·33/0.04)) / 100 = (10 + ln 16500) / 100
    assert bounds.kl_term(10.0, 100, 0.04, 33) == pytest.approx((10 + 9.7111157) / 100, abs=1e-8)
    # the grid costs ln K nats, here ln 33 = 3.4965
    assert (bounds.kl_term(10.0, 100, 0.04, 33) - bounds.kl_term(10.0, 100, 0.04, 1)) * 100 == pytest.approx(
        math.log(33))
    # at zero train error the certificate is 1 − exp(−kl_term)
    assert bounds.certificate(0.0, 10.0, 100, 0.04, 33) == pytest.approx(1 - math.exp(-0.197111157), abs=1e-8)


def test_gaussian_kl_by_hand() -> None:
    # N(1, 1) against N(0, 4): ½ (1/4 + 1/4 − 1 − ln 1/4) = 0.4431472
    kl = bounds.gaussian_kl(torch.tensor([1.0]), torch.tensor([1.0]), torch.tensor([0.0]), torch.tensor(2.0))
    assert float(kl) == pytest.approx(0.4431472, abs=1e-6)
    # and 0 for Q = P, summed over coordinates
    same = bounds.gaussian_kl(torch.zeros(3), torch.full((3,), 0.5), torch.zeros(3), torch.tensor(0.5))
    assert float(same) == pytest.approx(0.0, abs=1e-7)


def test_quad_objective_is_above_the_kl_bound_it_relaxes() -> None:
    # Pinsker-type relaxation: the objective never falls below the exact kl-inverse bound
    for loss, kl, n in ((0.0, 5.0, 200), (0.05, 50.0, 1000), (0.2, 300.0, 3000), (0.4, 0.0, 50)):
        objective = float(bounds.quad_objective(torch.tensor(loss), torch.tensor(kl), n, 0.04, 33))
        assert objective >= bounds.certificate(loss, kl, n, 0.04, 33) - 1e-9


def test_surrogates_lie_in_the_unit_interval_and_order_like_the_error() -> None:
    y = torch.tensor([0, 1])
    right, wrong = torch.tensor([[9.0, 0.0], [0.0, 9.0]]), torch.tensor([[0.0, 9.0], [9.0, 0.0]])
    for name, loss in bounds.SURROGATES.items():
        low, high = float(loss(right, y)), float(loss(wrong, y))
        assert 0 <= low < high <= 1, name
    chance = torch.zeros(4, 10)
    assert float(bounds.one_minus_probability(chance, torch.zeros(4, dtype=torch.long))) == pytest.approx(0.9)
