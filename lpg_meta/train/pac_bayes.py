"""A PAC-Bayes bound on the 0-1 error of a trained network (``train.pac_bayes``).

Dziugaite & Roy (2017) with the isotropic posterior of Jiang et al.'s (2019) ``pacbayes.flatness``:

- posterior Q = N(w, σ² I) around the final weights w, prior P = N(w0, σ² I) around the initial
  weights w0 (drawn from the run's seed before any data was seen), so KL(Q‖P) = ‖w − w0‖² / (2σ²);
- the train error of Q, ê_Q, by Monte Carlo: ``MC_SAMPLES`` training examples drawn uniformly
  with replacement, each with its own weight draw, so that at a fixed σ the terms are i.i.d.
  Bernoulli with mean exactly ê_Q; its upper bound is the Chernoff (kl) inversion of Langford &
  Caruana (2001);
- σ from the fixed geometric grid ``SIGMA_GRID`` (33 points, 1e-4 to 1): the largest σ whose
  Monte-Carlo train error under Q rises by at most ``TOLERANCE`` over w's on the same examples
  (bisection on the first ``SELECT_SAMPLES`` terms, the same noise scaled for every σ). The
  choice looks at the data, so both bounds hold at every σ of the grid at once (union bounds):
  δ = 0.05 is split into δ_mc = 0.01 for the Monte-Carlo bound and 0.04 for the PAC-Bayes
  bound, each split evenly over the grid's points;
- the bound: the largest e with kl(ê_Q upper ‖ e) ≤ (KL + ln(2√n / δ_σ)) / n (Langford-Seeger,
  Maurer's ln 2√n), δ_σ = 0.04 / 33. It holds with probability ≥ 1 − δ over the training set
  and the draws.

Only the model's parameters are perturbed: BatchNorm's running statistics are buffers and the
networks are evaluated in eval mode, so they stay as trained. The error is against the training
labels as trained on (noisy on noisy rows), so the bound is on the error under the training
distribution: its label noise and its class mix (long-tailed on long-tail rows).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, vmap

SIGMA_GRID: tuple[float, ...] = tuple(10.0 ** (-4 + j / 8) for j in range(33))  # 1e-4 .. 1, x1.33 a step
DELTA = 0.05  # the bound's total failure probability
DELTA_MC = 0.01  # of it, the Monte-Carlo bound's share; both shares are split evenly over SIGMA_GRID
TOLERANCE = 0.1  # how far the train error under Q may rise over w's (Jiang et al.'s deviation)
MC_SAMPLES = 256  # Monte-Carlo terms (training example, weight draw) at the chosen σ
SELECT_SAMPLES = 64  # of them, those the bisection for σ evaluates at each σ it tries
NOISE_FLOATS = 1 << 23  # per-example weight draws evaluated at once (32 MiB): the chunk size follows
SEED_OFFSET = 0x9A1B  # the bound's generators: apart from the run's, so training never sees them

Predict = Callable[[torch.Tensor], torch.Tensor]
Prepare = Callable[[torch.Tensor], torch.Tensor]


def binary_kl(q: float, p: float) -> float:
    """kl(q‖p) between Bernoulli(q) and Bernoulli(p), in nats (0 ln 0 = 0)."""
    def term(a: float, b: float) -> float:
        if a == 0:
            return 0.0
        return math.inf if b == 0 else a * math.log(a / b)

    return term(q, p) + term(1 - q, 1 - p)


def kl_inverse_upper(q: float, c: float) -> float:
    """The largest p in [q, 1] with kl(q‖p) ≤ c (bisection, to 1e-12)."""
    if not 0 <= q <= 1 or c < 0:
        raise ValueError(f"kl_inverse_upper needs q in [0, 1] and c >= 0, got q={q}, c={c}")
    if binary_kl(q, 1.0) <= c:
        return 1.0
    lo, hi = q, 1.0  # kl(q‖·) rises on [q, 1]: kl(q‖lo) <= c < kl(q‖hi)
    while hi - lo > 1e-12:
        mid = (lo + hi) / 2
        if binary_kl(q, mid) <= c:
            lo = mid
        else:
            hi = mid
    return hi  # the upper end: rounding never makes the bound smaller than it is


def gaussian_kl(w: list[torch.Tensor], w0: list[torch.Tensor], sigma: float) -> float:
    """KL(N(w, σ²I) ‖ N(w0, σ²I)) = ‖w − w0‖² / (2σ²)."""
    return squared_distance(w, w0) / (2 * sigma**2)


def squared_distance(w: list[torch.Tensor], w0: list[torch.Tensor]) -> float:
    """‖w − w0‖² over all tensors, summed in float64."""
    return float(sum(((a.detach().double() - b.detach().double()) ** 2).sum() for a, b in zip(w, w0, strict=True)))


def pac_bayes_rhs(kl: float, n: int, delta: float) -> float:
    """(KL + ln(2√n/δ)) / n: the right-hand side of the bound (above about 1, the bound is vacuous)."""
    return (kl + math.log(2 * math.sqrt(n) / delta)) / n


def pac_bayes_kl_bound(train_error_upper: float, kl: float, n: int, delta: float) -> float:
    """The largest e with kl(ê‖e) ≤ (KL + ln(2√n/δ)) / n: the error of Q, with probability ≥ 1 − δ."""
    return kl_inverse_upper(train_error_upper, pac_bayes_rhs(kl, n, delta))


def choose_sigma(rise: Callable[[int], float], grid_size: int, tolerance: float) -> int:
    """The largest grid index whose ``rise`` is ≤ ``tolerance``, by bisection (0 if none is).

    Assumes ``rise`` does not fall as the index grows (the error under Q grows with σ), so a
    larger tolerance never gives a smaller index.
    """
    lo, hi = -1, grid_size
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if rise(mid) <= tolerance:
            lo = mid
        else:
            hi = mid
    return max(lo, 0)


class PerturbedErrors:
    """0-1 errors of a model on training examples, at w or with one draw of Q per example.

    Args:
        model: the trained network (evaluated in eval mode: BatchNorm uses its running statistics).
        x, y: the stored training inputs and the labels trained on.
        prepare: stored inputs -> model inputs (normalised, on the model's device).
        predict: logits -> the logits predicted with (a method's post-hoc adjustment).
    """

    def __init__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, prepare: Prepare,
                 predict: Predict) -> None:
        self.model, self.x, self.y, self.prepare, self.predict = model, x, y, prepare, predict
        self.names = [name for name, _ in model.named_parameters()]
        self.weights = [p.detach() for _, p in model.named_parameters()]
        self.buffers = {name: b.detach() for name, b in model.named_buffers()}
        self.sizes = [w.numel() for w in self.weights]
        self.chunk = max(1, min(256, NOISE_FLOATS // max(1, sum(self.sizes))))

    def _errors(self, idx: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        wrong = self.predict(logits).argmax(dim=1).cpu() != self.y[idx]
        return wrong.to(torch.float64)

    @torch.no_grad()
    def at_w(self, idx: torch.Tensor) -> torch.Tensor:
        """Errors of w itself on the examples ``idx``."""
        out = [self._errors(part, self.model(self.prepare(self.x[part]))) for part in idx.split(1024)]
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.float64)

    def noise(self, count: int, generator: torch.Generator) -> list[torch.Tensor]:
        """``count`` draws of ε ~ N(0, I), one tensor per parameter of shape ``(count, *shape)``."""
        return [torch.randn(count, *w.shape, generator=generator, device=w.device) for w in self.weights]

    @torch.no_grad()
    def under_q(self, idx: torch.Tensor, sigma: float, noise: list[torch.Tensor]) -> torch.Tensor:
        """Errors on the examples ``idx``, example k under its own weights w + σ ``noise[.][k]``."""
        out = []
        for start in range(0, len(idx), self.chunk):
            part = idx[start : start + self.chunk]
            params = {name: torch.add(w, eps[start : start + self.chunk], alpha=sigma)
                      for name, w, eps in zip(self.names, self.weights, noise, strict=True)}
            logits = vmap(self._one)(params, self.prepare(self.x[part]))
            out.append(self._errors(part, logits))
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.float64)

    def _one(self, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(self.model, (params, self.buffers), (x.unsqueeze(0),)).squeeze(0)


def pac_bayes_bound(
    model: nn.Module, w0: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor, *, seed: int,
    prepare: Prepare = lambda x: x, predict: Predict = lambda z: z, tolerance: float = TOLERANCE,
    grid: tuple[float, ...] = SIGMA_GRID, delta: float = DELTA, delta_mc: float = DELTA_MC,
    mc_samples: int = MC_SAMPLES,
) -> dict[str, Any]:
    """The PAC-Bayes bound of ``model`` (weights w) around its initial weights ``w0``.

    Args:
        model: the trained network; its parameters, in ``named_parameters`` order, are w.
        w0: the initial parameters, same order.
        x, y: the stored training inputs and the labels trained on (n = len(y)).
        seed: seeds the bound's own generator (examples and draws): reruns give the same numbers.
        prepare, predict: as in ``PerturbedErrors``.
        tolerance: the rise of the train error under Q allowed when choosing σ.
        grid, delta, delta_mc, mc_samples: the σ grid, the total δ, the Monte-Carlo bound's share
            of it and the Monte-Carlo terms (example, weight draw) per σ tried.

    Returns:
        ``bound``, ``kl``, ``sigma``, the errors and their bounds, and how they were computed.
    """
    started = time.perf_counter()
    was_training = model.training
    model.eval()
    n = len(y)
    errors = PerturbedErrors(model, x, y, prepare, predict)
    train_error = float(errors.at_w(torch.arange(n)).mean())

    # Monte-Carlo terms: examples drawn uniformly with replacement, each with its own weight
    # draw, so that at a fixed σ they are i.i.d. Bernoulli with mean the train error of Q. The
    # same noise serves every σ (common random numbers): the error rises smoothly along the grid.
    generator = torch.Generator(device=errors.weights[0].device).manual_seed(SEED_OFFSET + seed)
    examples = torch.randint(0, n, (mc_samples,), generator=torch.Generator().manual_seed(SEED_OFFSET + seed))
    noise = errors.noise(mc_samples, generator)
    # σ is chosen on the first ``select`` terms; the bound at the chosen σ uses all of them (the
    # union bound over the grid holds whatever picks σ).
    select = min(SELECT_SAMPLES, mc_samples)
    head = [eps[:select] for eps in noise]
    sample_error = float(errors.at_w(examples[:select]).mean())
    selected: dict[int, torch.Tensor] = {}
    rises: dict[int, float] = {}

    def rise(j: int) -> float:
        selected[j] = errors.under_q(examples[:select], grid[j], head)
        rises[j] = float(selected[j].mean()) - sample_error
        return rises[j]

    j = choose_sigma(rise, len(grid), tolerance)
    if j not in selected:  # no σ met the tolerance: the smallest one, measured
        rise(j)
    rest = errors.under_q(examples[select:], grid[j], [eps[select:] for eps in noise])
    mc_error = float(torch.cat([selected[j], rest]).mean())
    sigma = grid[j]
    # Union bounds over the grid: a Monte-Carlo bound and a PAC-Bayes bound hold at every σ at once.
    mc_upper = kl_inverse_upper(mc_error, math.log(len(grid) / delta_mc) / mc_samples)
    kl = gaussian_kl(errors.weights, w0, sigma)
    delta_sigma = (delta - delta_mc) / len(grid)
    model.train(was_training)
    return {
        "bound": pac_bayes_kl_bound(mc_upper, kl, n, delta_sigma),
        "kl": kl,
        "kl_term": pac_bayes_rhs(kl, n, delta_sigma),  # the bound's right-hand side: above about 1, vacuous
        "sigma": sigma,
        "sigma_index": j,
        "sigma_grid": list(grid),
        "tolerance": tolerance,
        "selection": {"samples": select, "train_error_w": sample_error,
                      "rise_by_sigma": {f"{grid[k]:.6g}": v for k, v in sorted(rises.items())}},
        "distance": math.sqrt(squared_distance(errors.weights, w0)),
        "train_error": train_error,
        "mc_train_error": mc_error,
        "mc_train_error_upper": mc_upper,
        "mc_samples": mc_samples,
        "n": n,
        "delta": delta,
        "delta_mc": delta_mc,
        "delta_per_sigma": delta_sigma,
        "perturbed": {"parameters": sum(errors.sizes), "tensors": len(errors.sizes),
                      "buffers_not_perturbed": sum(b.numel() for b in errors.buffers.values())},
        "labels": "the training labels as trained on (noisy on noisy rows)",
        "seconds": time.perf_counter() - started,
    }
