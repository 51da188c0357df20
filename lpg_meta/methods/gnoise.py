"""Annealed Gaussian gradient noise (Neelakantan et al. 2015; docs/method.md §2)."""

from __future__ import annotations

from typing import Any

import torch

from lpg_meta.methods.base import Method, StepInfo, TrainContext
from lpg_meta.perturb.param import add_gradient_noise, clip_grad_norm
from lpg_meta.registry import METHODS

# Offset so that the noise stream differs from the global stream that initialised the model.
_SEED_OFFSET = 0x5EED_0015E


def noise_seed() -> int:
    """Seed of the noise generator, derived from the run's torch seed (``torch.initial_seed()``)."""
    return (torch.initial_seed() + _SEED_OFFSET) % (2**63)


@METHODS.register("gnoise")
class GradNoise(Method):
    """G <- clip(G) + N(0, sigma_t^2 I), sigma_t^2 = eta / (1 + t)^gamma, t the global step.

    ``max_norm`` 0 means no clipping; otherwise the gradient is clipped first, then noised.
    The noise comes from a generator of its own, seeded in ``setup`` from ``torch.initial_seed()``,
    so it is reproducible for a given run seed and does not consume the global random stream.
    """


    def __init__(self, params: dict[str, Any], ctx: TrainContext) -> None:
        super().__init__(params, ctx)
        self.generator: torch.Generator | None = None

    def _make_generator(self, model: torch.nn.Module) -> torch.Generator:
        first = next(model.parameters(), None)
        device = first.device if first is not None else torch.device("cpu")
        return torch.Generator(device=device).manual_seed(noise_seed())

    def setup(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
        self.generator = self._make_generator(model)

    def before_update(self, model: torch.nn.Module, step: StepInfo) -> None:
        if self.generator is None:  # setup() not called (e.g. used outside the trainer)
            self.generator = self._make_generator(model)
        if self.params["max_norm"] > 0:
            clip_grad_norm(model.parameters(), self.params["max_norm"])
        add_gradient_noise(
            model.parameters(),
            step.step,
            self.params["eta"],
            self.params["gamma"],
            generator=self.generator,
        )
