"""Closed-form LPG (docs/method.md §3.2, ``rule``): class magnitudes from a running true-class probability.

Classes learned worse than average (low ``q_c``) are amplified, better ones dampened: the LPL
balanced-data rule transferred to gradients. No meta split is needed.
"""

from __future__ import annotations

import torch

from lpg_meta import catalog

# The settings' defaults are lpg_rule's declared ones (lpg_meta/catalog/methods.py, with their reasons).
_DECLARED = catalog.method_defaults("lpg_rule")


class ClassRule:
    """Per-class EMA ``q_c`` of the true-class probability and the magnitudes it implies.

    Args:
        num_classes: C.
        eps: base magnitude of a non-zero perturbation.
        d_eps: growth of the magnitude with ``|tau - q_c|``.
        eps_max: bound on ``|a_c|``, in [0, 1) so the scale form keeps the direction.
        ema: EMA factor of ``q_c`` (per batch in which class c appears).
        device: where ``q`` lives.
    """

    def __init__(
        self,
        num_classes: int,
        eps: float = _DECLARED["eps"],
        d_eps: float = _DECLARED["d_eps"],
        eps_max: float = _DECLARED["eps_max"],
        ema: float = _DECLARED["ema"],
        device: torch.device | None = None,
    ) -> None:
        self.eps, self.d_eps, self.eps_max, self.ema = eps, d_eps, eps_max, ema
        # Chance level for every class: then tau - q_c = 0, sign 0, and the rule starts as its base.
        self.q = torch.full((num_classes,), 1.0 / num_classes, device=device)

    def to(self, device: torch.device) -> ClassRule:
        """Move ``q`` to ``device``."""
        self.q = self.q.to(device)
        return self

    @torch.no_grad()
    def update(self, logits: torch.Tensor, y: torch.Tensor) -> None:
        """EMA update of ``q_c`` with the batch mean true-class probability of each present class."""
        p_true = torch.softmax(logits.detach().float(), dim=1).gather(1, y.unsqueeze(1)).squeeze(1)
        num_classes = self.q.numel()
        sums = torch.zeros(num_classes, device=self.q.device).index_add_(0, y, p_true.to(self.q))
        counts = torch.bincount(y, minlength=num_classes).to(self.q)
        present = counts > 0
        batch_mean = sums / counts.clamp_min(1)
        self.q = torch.where(present, self.ema * self.q + (1 - self.ema) * batch_mean, self.q)

    def magnitudes(self, q: torch.Tensor | None = None) -> torch.Tensor:
        """``a_c = clip(sign(tau - q_c) * (eps + d_eps * |tau - q_c|), -eps_max, eps_max)``."""
        q = self.q if q is None else q
        gap = q.mean() - q
        a = torch.sign(gap) * (self.eps + self.d_eps * gap.abs())
        return a.clamp(-self.eps_max, self.eps_max)

    @staticmethod
    def transform(g: torch.Tensor, y: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Scale form ``g~ = (1 + a_y) g``, written as ``g + a_y g`` (exact when ``a = 0``)."""
        return g + a[y].to(g).unsqueeze(1) * g
