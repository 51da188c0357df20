"""A diagonal Gaussian posterior over a network's weights, optimised into a PAC-Bayes certificate.

- **Coordinates.** The posterior and the prior live on the network's parameters, except that a
  batch-norm layer's scale and shift (γ, β) are replaced by the affine map it applies in eval
  mode, a = γ / √(v + ε) and b = β − a μ (μ, v its running statistics). The map x ↦ a x + b
  is the same function whatever the statistics are, so which network a point of the space is
  no longer depends on the data the statistics were computed on (the statistics are not
  perturbed; perturbing γ and β around data-dependent statistics would make the prior's
  hypotheses depend on the training set).
- **Posterior** Q = N(μ_Q, diag σ_Q²), started at the run's final weights w; **prior** P with,
  for each parameter tensor t, N(μ_P,t, σ_P,t² I): μ_P the initial weights w0 (or a prior mean
  learned on held-out examples, ``runs``), σ_P,t a point of ``PRIOR_SIGMA_GRID`` (K points). Layers
  differ in scale by orders of magnitude (a folded batch-norm scale near 1, convolution weights
  near 0.05), so one σ_P for all of them left no posterior with both a small KL and a low error.
  The union bound covers the K^T priors (T tensors): ln K^T = T ln K nats in the bound, and
  ln H more for a run whose hyperparameters were chosen among H candidates (``runs.tuning_candidates``).
- **Start of σ_Q**: per tensor, a factor of ``Recipe.sigma_init`` times the tensor's distance from
  μ_P (root mean square); the factor whose objective is least on a few batches. Where Q starts at
  μ_P itself (the data variant), ``Recipe.sigma_init_at_prior`` times the tensor's own rms.
- **Optimisation**: SGD with momentum on (μ_Q, ln σ_Q) minimising ``bounds.quad_objective`` of the
  surrogate loss, σ_P,t at its closed-form optimum for the current Q, one weight draw per
  mini-batch, from its own seeded generator. Then each σ_P,t moves to the grid point with the
  least KL.
- **Evaluation**: ``mc_draws`` fresh weight draws from another seeded generator, each scored on all n
  examples (0-1 error of the prediction), then ``bounds.mc_upper`` and ``bounds.certificate``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from lpg_meta.certify import bounds
from lpg_meta.certify.recipe import Recipe
from lpg_meta.train.pac_bayes import SIGMA_GRID

PRIOR_SIGMA_GRID = SIGMA_GRID  # the prior's σ: 33 points from 1e-4 to 1, the in-run bound's grid
INIT_BATCHES = 4  # batches (one weight draw each) that score a starting σ_Q
OPTIMISE_STREAM, EVALUATE_STREAM = 0x5EED0, 0x5EED1  # offsets of the two generators' seeds: never the same draws

Predict = Callable[[torch.Tensor], torch.Tensor]
State = dict[str, torch.Tensor]


def nearest_grid_point(value: float) -> float:
    """The point of ``PRIOR_SIGMA_GRID`` nearest ``value`` on a log scale."""
    return min(PRIOR_SIGMA_GRID, key=lambda g: abs(math.log(g / value)))


class Coordinates:
    """A network's parameters in certified coordinates (batch-norm scale and shift folded, see above)."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.names = [name for name, _ in model.named_parameters()]
        self.folded: dict[str, tuple[str, str]] = {}  # parameter -> ("scale" | "shift", module prefix)
        for prefix, module in model.named_modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.affine and module.track_running_stats:
                self.folded[f"{prefix}.weight"] = ("scale", prefix)
                self.folded[f"{prefix}.bias"] = ("shift", prefix)

    def _stats(self, state: State, prefix: str) -> tuple[torch.Tensor, torch.Tensor]:
        module = self.model.get_submodule(prefix)
        return state[f"{prefix}.running_mean"], torch.sqrt(state[f"{prefix}.running_var"] + module.eps)

    def of(self, state: State) -> list[torch.Tensor]:
        """The coordinates of a state dict (its parameters, batch-norm ones folded with its statistics)."""
        out = []
        for name in self.names:
            value = state[name].detach().float()
            if name in self.folded:
                kind, prefix = self.folded[name]
                mean, std = self._stats(state, prefix)
                scale = state[f"{prefix}.weight"].detach().float() / std
                value = scale if kind == "scale" else value - scale * mean
            out.append(value.clone())
        return out

    def params(self, coords: list[torch.Tensor], state: State) -> State:
        """Parameters for ``functional_call`` that make the network of ``coords`` under ``state``'s statistics."""
        by_name = dict(zip(self.names, coords, strict=True))
        out = {}
        for name in self.names:
            value = by_name[name]
            if name in self.folded:
                kind, prefix = self.folded[name]
                mean, std = self._stats(state, prefix)
                scale = by_name[f"{prefix}.weight"]
                value = scale * std if kind == "scale" else value + scale * mean
            out[name] = value
        return out


class Certifier:
    """The posterior of one trained network on the n examples the bound is computed on.

    Args:
        model: the network (its architecture; evaluated in eval mode).
        final, prior_mean: state dicts of the trained network (Q's start, and whose statistics the
            network uses) and of the prior's centre (w0, or a learned prior mean).
        x, y: the n examples as model inputs (prepared) and their labels.
        predict: logits -> the logits predicted with (a method's post-hoc adjustment).
        candidates: the hyperparameter values the run's were chosen from, drawn blind to the data
            (``runs.tuning_candidates``); the union bound covers each of them with each prior.
    """

    def __init__(self, model: nn.Module, final: State, prior_mean: State, x: torch.Tensor, y: torch.Tensor,
                 predict: Predict = lambda z: z, candidates: int = 1) -> None:
        self.model = model.eval()
        self.coords = Coordinates(model)
        self.final = {k: v.detach() for k, v in final.items()}
        self.buffers = {name: self.final[name] for name, _ in model.named_buffers()}
        self.start = self.coords.of(self.final)
        self.prior = self.coords.of(prior_mean)
        self.x, self.y, self.predict = x, y, predict
        self.n = len(y)
        self.candidates = candidates

    def logits(self, coords: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        params = self.coords.params(coords, self.final)
        return self.predict(functional_call(self.model, (params, self.buffers), (x,)))

    def kl(self, mean: list[torch.Tensor], sigma: list[torch.Tensor], sigma_p: list[torch.Tensor]) -> torch.Tensor:
        """KL(Q‖P) with tensor t's prior N(μ_P,t, σ_P,t² I)."""
        parts = zip(mean, sigma, self.prior, sigma_p, strict=True)
        return sum(bounds.gaussian_kl(m, s, p, sp) for m, s, p, sp in parts)

    def prior_sigma(self, mean: list[torch.Tensor], sigma: list[torch.Tensor]) -> list[torch.Tensor]:
        """Per tensor, the σ_P that minimises its KL for this Q: σ_P² = (Σ σ_Q² + ‖μ_Q − μ_P‖²) / D_t."""
        low, high = min(PRIOR_SIGMA_GRID), max(PRIOR_SIGMA_GRID)
        return [torch.sqrt(((s**2).sum() + ((m - p) ** 2).sum()) / m.numel()).clamp(low, high)
                for m, s, p in zip(mean, sigma, self.prior, strict=True)]

    @property
    def priors(self) -> int:
        """How many priors the union bound covers: a grid point for each tensor, K^T, for each candidate."""
        return len(PRIOR_SIGMA_GRID) ** len(self.prior) * self.candidates

    def objective(self, mean: list[torch.Tensor], sigma: list[torch.Tensor], idx: torch.Tensor,
                  gen: torch.Generator, recipe: Recipe) -> torch.Tensor:
        """The training objective on the examples ``idx`` with one weight draw."""
        draw = [m + s * torch.randn(m.shape, generator=gen) for m, s in zip(mean, sigma, strict=True)]
        loss = bounds.SURROGATES[recipe.surrogate](self.logits(draw, self.x[idx]), self.y[idx])
        kl = self.kl(mean, sigma, self.prior_sigma(mean, sigma))
        return bounds.quad_objective(loss, kl, self.n, recipe.delta - recipe.delta_mc, self.priors)

    def initial_sigma(self, recipe: Recipe, gen: torch.Generator) -> list[torch.Tensor]:
        """σ_Q to start from: for each of ``recipe.sigma_init`` (relative to each tensor's distance
        from the prior's centre, root mean square), the objective on a few batches; the least wins."""
        batch = min(recipe.batch_size, self.n)
        at_prior = all(torch.equal(c, p) for c, p in zip(self.start, self.prior, strict=True))
        scale = [max(float((c if at_prior else c - p).pow(2).mean().sqrt()), 1e-4)
                 for c, p in zip(self.start, self.prior, strict=True)]
        best, best_value = [], math.inf
        with torch.no_grad():
            for factor in (recipe.sigma_init_at_prior,) if at_prior else recipe.sigma_init:
                # at the prior's centre, σ on its grid: Q starts at a prior the union bound covers (KL 0)
                sigma = [torch.full_like(c, nearest_grid_point(factor * r) if at_prior else factor * r)
                         for c, r in zip(self.start, scale, strict=True)]
                value = sum(float(self.objective(self.start, sigma, torch.randperm(self.n, generator=gen)[:batch],
                                                 gen, recipe)) for _ in range(INIT_BATCHES))
                if value < best_value:
                    best, best_value = sigma, value
        return best

    def optimise(self, recipe: Recipe, seed: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Q's means and σs after ``recipe.steps`` SGD steps (seeded by ``seed``)."""
        gen = torch.Generator().manual_seed(OPTIMISE_STREAM + seed)
        mean = [c.clone().requires_grad_(True) for c in self.start]
        log_sigma = [s.log().requires_grad_(True) for s in self.initial_sigma(recipe, gen)]
        # SGD, not Adam: Adam's per-coordinate normalisation moves every coordinate at its full
        # rate along the KL's small but steady pull, and the posterior collapsed onto the prior.
        optimizer = torch.optim.SGD([*mean, *log_sigma], lr=recipe.lr, momentum=recipe.momentum)
        batch = min(recipe.batch_size, self.n)
        for _ in range(recipe.steps):
            idx = torch.randperm(self.n, generator=gen)[:batch]
            objective = self.objective(mean, [s.exp() for s in log_sigma], idx, gen, recipe)
            optimizer.zero_grad()
            objective.backward()
            optimizer.step()
        return [m.detach() for m in mean], [s.detach().exp() for s in log_sigma]

    @torch.no_grad()
    def errors(self, mean: list[torch.Tensor], sigma: list[torch.Tensor], draws: int, seed: int,
               x: torch.Tensor, y: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
        """The 0-1 error on (x, y) of each of ``draws`` fresh weight draws (the evaluation's generator)."""
        gen = torch.Generator().manual_seed(EVALUATE_STREAM + seed)
        out = torch.empty(draws, dtype=torch.float64)
        for k in range(draws):
            draw = [m + s * torch.randn(m.shape, generator=gen) for m, s in zip(mean, sigma, strict=True)]
            wrong = sum(int((self.logits(draw, x[i:i + chunk]).argmax(1) != y[i:i + chunk]).sum())
                        for i in range(0, len(y), chunk))
            out[k] = wrong / len(y)
        return out

    @torch.no_grad()
    def error_at(self, coords: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> float:
        return float((self.logits(coords, x).argmax(1) != y).double().mean())

    def certify(self, recipe: Recipe, seed: int) -> dict[str, Any]:
        """Optimise Q, evaluate it with fresh draws and return the certificate and its parts."""
        started = time.perf_counter()
        mean, sigma = self.optimise(recipe, seed)
        with torch.no_grad():  # per tensor, the grid point with the least KL: the union bound covers any choice
            chosen = [min(PRIOR_SIGMA_GRID, key=lambda g, m=m, s=s, p=p: float(bounds.gaussian_kl(m, s, p,
                                                                                             torch.tensor(g))))
                      for m, s, p in zip(mean, sigma, self.prior, strict=True)]
            kl = float(self.kl(mean, sigma, [torch.tensor(g) for g in chosen]))
        errors = self.errors(mean, sigma, recipe.mc_draws, seed, self.x, self.y)
        mc_error = float(errors.mean())
        upper = bounds.mc_upper(mc_error, recipe.mc_draws, recipe.delta_mc)
        delta_pb = recipe.delta - recipe.delta_mc
        self.posterior = (mean, sigma)  # kept for the test error under Q (``test_error``)
        return {
            "certificate": bounds.certificate(upper, kl, self.n, delta_pb, self.priors), "kl": kl, "n": self.n,
            "kl_term": bounds.kl_term(kl, self.n, delta_pb, self.priors),
            "mc_train_error": mc_error, "mc_train_error_upper": upper,
            "train_error_w": self.error_at(self.start, self.x, self.y),
            "prior_sigma": dict(zip(self.coords.names, chosen, strict=True)),
            "posterior_sigma_median": float(torch.cat([s.flatten() for s in sigma]).median()),
            "distance_to_prior": math.sqrt(sum(float(((m - p) ** 2).sum()) for m, p in zip(mean, self.prior,
                                                                                         strict=True))),
            "delta": recipe.delta, "delta_mc": recipe.delta_mc, "union_log_priors": math.log(self.priors),
            "seconds": time.perf_counter() - started,
        }

    def test_error(self, x: torch.Tensor, y: torch.Tensor, draws: int, seed: int) -> float:
        """Q's 0-1 error on other examples (e.g. the test split), by ``draws`` weight draws: a
        record beside the certificate, not part of it."""
        return float(self.errors(*self.posterior, draws, seed + 1, x, y).mean())
