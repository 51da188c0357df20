"""The optimised posterior: folded coordinates, a separable toy problem, brute force, independent evaluation."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from torch import nn

from lpg_meta.certify import bounds
from lpg_meta.certify.posterior import (
    EVALUATE_STREAM,
    OPTIMISE_STREAM,
    PRIOR_SIGMA_GRID,
    Certifier,
    Coordinates,
    nearest_grid_point,
)
from lpg_meta.certify.recipe import Recipe

DIM = 5
TOY = Recipe(steps=300, lr=0.05, batch_size=256, mc_draws=200)


def separable(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n points in R^5 labelled by the sign of the first coordinate, none within 0.5 of the boundary."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, DIM, generator=gen)
    x[:, 0] = torch.sign(x[:, 0]) * (0.5 + x[:, 0].abs())
    return x, (x[:, 0] > 0).long()


def trained_linear(x: torch.Tensor, y: torch.Tensor) -> tuple[nn.Module, dict, dict]:
    torch.manual_seed(0)
    model = nn.Linear(DIM, 2)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(100):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    return model.eval(), initial, {k: v.detach().clone() for k, v in model.state_dict().items()}


def toy_certificate(n: int) -> tuple[dict, Certifier]:
    x, y = separable(n, seed=n)
    model, initial, final = trained_linear(x, y)
    certifier = Certifier(model, final, initial, x, y)
    return certifier.certify(TOY, seed=0), certifier


@pytest.fixture(scope="module")
def toy() -> dict[int, tuple[dict, Certifier]]:
    return {n: toy_certificate(n) for n in (30, 300, 3000)}


def test_certificate_falls_with_n_and_is_non_vacuous_at_300(toy: dict) -> None:
    certs = [toy[n][0]["certificate"] for n in (30, 300, 3000)]
    assert certs[0] > certs[1] > certs[2]
    assert certs[1] < 0.5  # n = 300: non-vacuous (guessing between 2 classes errs 0.5)
    assert certs[2] < 0.1


def test_certificate_equals_a_brute_force_evaluation_of_its_formula(toy: dict) -> None:
    record, certifier = toy[300]
    mean, sigma = certifier.posterior
    # KL summed coordinate by coordinate in float64 at each tensor's chosen prior σ
    kl = sum(math.log(s_p / s) + (s * s + (m - p) ** 2) / (2 * s_p * s_p) - 0.5
             for name, mt, st, pt in zip(certifier.coords.names, mean, sigma, certifier.prior, strict=True)
             for s_p in [record["prior_sigma"][name]]
             for m, s, p in zip(mt.double().flatten().tolist(), st.double().flatten().tolist(),
                                pt.double().flatten().tolist(), strict=True))
    assert record["kl"] == pytest.approx(kl, rel=1e-4)
    n, draws, delta_mc, delta_pb = 300, TOY.mc_draws, TOY.delta_mc, TOY.delta - TOY.delta_mc

    def kl01(q: float, p: float) -> float:
        return (q * math.log(q / p) if q > 0 else 0.0) + (1 - q) * math.log((1 - q) / (1 - p))

    # both kl inversions by a scan over a grid of 10^5 points
    grid = [i / 100_000 for i in range(1, 100_000)]
    mc_upper = max(p for p in grid if p <= record["mc_train_error"] or
                   kl01(record["mc_train_error"], p) <= math.log(1 / delta_mc) / draws)
    rhs = (kl + math.log(2 * math.sqrt(n) * len(PRIOR_SIGMA_GRID) ** 2 / delta_pb)) / n  # 2 tensors
    cert = max(p for p in grid if p <= mc_upper or kl01(mc_upper, p) <= rhs)
    assert record["mc_train_error_upper"] == pytest.approx(mc_upper, abs=2e-5)
    assert record["certificate"] == pytest.approx(cert, abs=3e-5)


def test_certificate_is_above_the_posteriors_error_on_fresh_data(toy: dict) -> None:
    for n in (30, 300, 3000):
        record, certifier = toy[n]
        x, y = separable(20_000, seed=10_000 + n)
        assert record["certificate"] >= certifier.test_error(x, y, draws=50, seed=1)


def test_evaluation_draws_are_its_own(toy: dict) -> None:
    record, certifier = toy[300]
    mean, sigma = certifier.posterior
    # the evaluation's generator is seeded apart from the optimisation's: different first draws
    assert EVALUATE_STREAM != OPTIMISE_STREAM
    first = [torch.randn(3, generator=torch.Generator().manual_seed(s)) for s in (EVALUATE_STREAM, OPTIMISE_STREAM)]
    assert not torch.equal(*first)
    # and the evaluation depends on the posterior and its seed only: the same after more optimising
    again = certifier.errors(mean, sigma, TOY.mc_draws, 0, certifier.x, certifier.y)
    certifier.optimise(Recipe(steps=5), seed=3)
    assert float(again.mean()) == pytest.approx(record["mc_train_error"], abs=0)
    assert torch.equal(again, certifier.errors(mean, sigma, TOY.mc_draws, 0, certifier.x, certifier.y))


def test_certify_is_reproducible() -> None:
    first, _ = toy_certificate(30)
    second, _ = toy_certificate(30)
    assert {k: v for k, v in first.items() if k != "seconds"} == {k: v for k, v in second.items() if k != "seconds"}


def test_folded_batch_norm_coordinates_name_the_same_network_whatever_the_statistics() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3, bias=False), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 2)).eval()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["1.running_mean"] = torch.tensor([0.3, -1.0, 2.0])
    state["1.running_var"] = torch.tensor([0.5, 4.0, 1.5])
    state["1.weight"] = torch.tensor([1.5, -0.5, 2.0])
    coords = Coordinates(model)
    assert set(coords.folded) == {"1.weight", "1.bias"}
    x = torch.randn(7, 4)
    buffers = {name: state[name] for name, _ in model.named_buffers()}
    model.load_state_dict(state)
    point = coords.of(state)
    same = torch.func.functional_call(model, (coords.params(point, state), buffers), (x,))
    assert torch.allclose(same, model(x), atol=1e-6)  # the state's own network
    other = {**state, "1.running_mean": torch.tensor([-2.0, 0.0, 1.0]), "1.running_var": torch.tensor([9.0, 0.1, 1.0])}
    moved = [c + 0.1 for c in point]  # any point of the space: the statistics do not change its network
    a = torch.func.functional_call(model, (coords.params(moved, state), buffers), (x,))
    b = torch.func.functional_call(model, (coords.params(moved, other), {k: other[k] for k in buffers}), (x,))
    assert torch.allclose(a, b, atol=1e-5)


def test_mc_upper_bounds_the_certificates_train_error(toy: dict) -> None:
    record, _ = toy[300]
    assert record["mc_train_error"] <= record["mc_train_error_upper"] <= record["certificate"]
    assert record["mc_train_error_upper"] == bounds.mc_upper(record["mc_train_error"], TOY.mc_draws, TOY.delta_mc)


def test_a_posterior_started_at_the_prior_centre_starts_on_the_grid_with_kl_zero() -> None:
    """The data variant's start: Q at μ_P, σ_Q a grid point of each tensor, so the union bound covers
    Q itself as a prior and, at 0 steps, the KL is exactly 0 and the certificate a held-out bound."""
    x, y = separable(300, seed=300)
    model, _, final = trained_linear(x, y)
    certifier = Certifier(model, final, final, x, y)
    sigma = certifier.initial_sigma(TOY, torch.Generator().manual_seed(0))
    for s, c in zip(sigma, certifier.start, strict=True):
        expected = nearest_grid_point(TOY.sigma_init_at_prior * float(c.pow(2).mean().sqrt()))
        assert torch.equal(s, torch.full_like(c, expected))
    record = certifier.certify(dataclasses.replace(TOY, steps=0), seed=0)
    assert record["kl"] == pytest.approx(0.0, abs=1e-9)  # 0 up to float32 σ against the grid's float value
    assert record["certificate"] == bounds.certificate(record["mc_train_error_upper"], record["kl"], 300,
                                                       TOY.delta - TOY.delta_mc, certifier.priors)
    assert record["certificate"] == pytest.approx(bounds.certificate(record["mc_train_error_upper"], 0.0, 300,
                                                                     TOY.delta - TOY.delta_mc, certifier.priors),
                                                  abs=1e-9)


def test_nearest_grid_point_is_nearest_on_a_log_scale() -> None:
    assert nearest_grid_point(PRIOR_SIGMA_GRID[5]) == PRIOR_SIGMA_GRID[5]
    between = math.sqrt(PRIOR_SIGMA_GRID[5] * PRIOR_SIGMA_GRID[6])  # the geometric midpoint
    assert nearest_grid_point(between * 0.999) == PRIOR_SIGMA_GRID[5]
    assert nearest_grid_point(between * 1.001) == PRIOR_SIGMA_GRID[6]
    assert nearest_grid_point(1e-9) == min(PRIOR_SIGMA_GRID) and nearest_grid_point(10.0) == max(PRIOR_SIGMA_GRID)


def test_each_hyperparameter_candidate_joins_the_union_bound() -> None:
    # Three candidate values (drawn blind to the data): every prior of the grid once for each, so the
    # right-hand side gains ln 3 / n nats. At 0 steps nothing else changes (the same Q, draws and KL);
    # with steps the objective, which carries the same term, steers the optimisation a little.
    x, y = separable(300, seed=300)
    model, initial, final = trained_linear(x, y)
    start = dataclasses.replace(TOY, steps=0)
    one, three = (Certifier(model, final, initial, x, y, candidates=c).certify(start, seed=0) for c in (1, 3))
    assert three["kl"] == one["kl"] and three["mc_train_error_upper"] == one["mc_train_error_upper"]
    assert three["kl_term"] == pytest.approx(one["kl_term"] + math.log(3) / 300, abs=1e-12)
    assert three["certificate"] == pytest.approx(
        bounds.kl_inverse_upper(one["mc_train_error_upper"], one["kl_term"] + math.log(3) / 300), abs=1e-9)
    assert three["certificate"] > one["certificate"]
