"""The arithmetic of an optimised PAC-Bayes certificate (Dziugaite & Roy 2017; Pérez-Ortiz et al. 2021).

With probability ≥ 1 − δ over the n examples the bound is computed on and the Monte-Carlo draws:

- the PAC-Bayes-kl bound (Langford-Seeger, Maurer's ln 2√n): for every posterior Q and each of
  the K priors at once, kl(ê_S(Q) ‖ e_D(Q)) ≤ (KL(Q‖P_k) + ln(2√n K / δ_pb)) / n
  (a union bound: each prior gets δ_pb / K; K = 33^T × H with a grid of 33 σs for each of T tensors
  and H hyperparameter candidates drawn before any data was seen);
- ê_S(Q), the 0-1 error of Q on the n examples, is estimated by m independent weight draws, each
  scored on all n examples; the m scores are i.i.d. in [0, 1] with mean ê_S(Q), so the
  sample-convergence bound of Langford & Caruana (2001) gives ê_S(Q) ≤ kl⁻¹(ê_m, ln(1/δ_mc) / m);
- δ = δ_pb + δ_mc, and the certificate is kl⁻¹(that upper bound, the right-hand side above).

The posterior is trained on the "quad" objective of Pérez-Ortiz et al. (their eq. 15) with a
bounded surrogate of the 0-1 loss (cross-entropy with probabilities floored at ``P_MIN``, divided
by ln(1/P_MIN), so in [0, 1]); the objective only steers the optimisation: the certificate is
computed afresh from the 0-1 error by the formulas above.
"""

from __future__ import annotations

import math

import torch

from lpg_meta.certify.recipe import DELTA, DELTA_MC
from lpg_meta.train.pac_bayes import binary_kl, kl_inverse_upper

P_MIN = 1e-4  # the bounded surrogate's probability floor: the loss lies in [0, 1]

__all__ = ["DELTA", "DELTA_MC", "P_MIN", "binary_kl", "kl_inverse_upper", "mc_upper", "kl_term",
           "certificate", "quad_objective", "bounded_cross_entropy", "one_minus_probability",
           "SURROGATES", "gaussian_kl"]


def mc_upper(mean_error: float, draws: int, delta_mc: float = DELTA_MC) -> float:
    """Upper bound on ê_S(Q) from ``draws`` i.i.d. [0, 1] scores of mean ``mean_error`` (Langford-Caruana)."""
    return kl_inverse_upper(mean_error, math.log(1 / delta_mc) / draws)


def kl_term(kl: float, n: int, delta_pb: float, priors: int) -> float:
    """(KL + ln(2√n K / δ_pb)) / n: the right-hand side of the bound with a union over K priors."""
    return (kl + math.log(2 * math.sqrt(n) / delta_pb) + math.log(priors)) / n


def certificate(train_error_upper: float, kl: float, n: int, delta_pb: float, priors: int) -> float:
    """The largest e with kl(ê ‖ e) ≤ ``kl_term``: the bound on Q's error under the data distribution."""
    return kl_inverse_upper(train_error_upper, kl_term(kl, n, delta_pb, priors))


def gaussian_kl(mean_q: torch.Tensor, sigma_q: torch.Tensor, mean_p: torch.Tensor,
                sigma_p: torch.Tensor) -> torch.Tensor:
    """KL(N(mean_q, diag σ_q²) ‖ N(mean_p, σ_p² I)), summed over the coordinates (differentiable)."""
    ratio = (sigma_q / sigma_p) ** 2
    return 0.5 * (ratio + ((mean_q - mean_p) / sigma_p) ** 2 - 1 - torch.log(ratio)).sum()


def bounded_cross_entropy(logits: torch.Tensor, y: torch.Tensor, p_min: float = P_MIN) -> torch.Tensor:
    """Mean of −ln max(p_y, p_min) / ln(1/p_min): cross-entropy squeezed into [0, 1]."""
    log_p = torch.log_softmax(logits, dim=1).gather(1, y[:, None]).squeeze(1)
    return (-log_p.clamp(min=math.log(p_min))).mean() / math.log(1 / p_min)


def one_minus_probability(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean of 1 − p_y: a smooth surrogate of the 0-1 error in [0, 1] that, like it, is near
    1 − 1/C at chance (the bounded cross-entropy is only ln C / ln(1/p_min) there, so an
    objective built on it can prefer a posterior that guesses)."""
    return 1 - torch.softmax(logits, dim=1).gather(1, y[:, None]).squeeze(1).mean()


SURROGATES = {"prob": one_minus_probability, "ce": bounded_cross_entropy}


def quad_objective(loss: torch.Tensor, kl: torch.Tensor, n: int, delta_pb: float, priors: int) -> torch.Tensor:
    """(√(L + c) + √c)² with c = (KL + ln(2√n K/δ_pb)) / (2n): Pérez-Ortiz et al.'s f_quad, a
    differentiable upper bound of the kl bound (Pinsker's relaxation, tightened)."""
    c = (kl + math.log(2 * math.sqrt(n) / delta_pb) + math.log(priors)) / (2 * n)
    return (torch.sqrt(loss + c) + torch.sqrt(c)) ** 2
