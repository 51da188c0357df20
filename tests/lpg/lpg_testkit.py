"""Shared helpers (not a test file): small float64 problems for the LPG tests.

A BatchNorm MLP, Nesterov SGD with weight decay.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from lpg_meta.lpg import Form, build_form
from lpg_meta.methods import Method, StepInfo, TrainContext
from lpg_meta.perturb import perturb_logit_grad

C = 3


def make_model(seed: int = 0, batchnorm: bool = True) -> nn.Module:
    """Linear-BN-Tanh-Linear (smooth, so finite differences are accurate)."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = [nn.Linear(5, 7)]
    if batchnorm:
        layers.append(nn.BatchNorm1d(7))
    layers += [nn.Tanh(), nn.Linear(7, C)]
    return nn.Sequential(*layers).double()


def make_optimizer(model: nn.Module) -> torch.optim.SGD:
    return torch.optim.SGD(
        model.parameters(), lr=0.3, momentum=0.9, nesterov=True, weight_decay=5e-3
    )


def make_batches(seed: int = 1, batch: int = 8) -> tuple[tuple, tuple]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 5, generator=gen, dtype=torch.float64)
    y = torch.arange(batch) % C
    x_m = torch.randn(6, 5, generator=gen, dtype=torch.float64)
    y_m = torch.tensor([0, 1, 2, 2, 1, 0])
    return (x, y), (x_m, y_m)


def warm_up(model: nn.Module, optimizer: torch.optim.Optimizer, steps: int, seed: int = 7) -> None:
    """Real CE steps so momentum buffers and BN statistics are non-trivial."""
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x = torch.randn(8, 5, generator=gen, dtype=torch.float64)
        optimizer.zero_grad()
        F.cross_entropy(model(x), torch.arange(8) % C).backward()
        optimizer.step()


def make_form(name: str, seed: int = 3, **settings) -> Form:
    """A form with a random non-zero phi (so every path of the transform is exercised)."""
    form = build_form(name, C, **settings).double()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        form.phi.copy_(0.8 * torch.randn(form.phi.shape, generator=gen, dtype=torch.float64))
    return form


def perturbed_ce(transform: Callable) -> Callable:
    """CE whose per-sample logit gradients go through ``transform(g, y)``."""

    def loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(perturb_logit_grad(logits, lambda g: transform(g, y)), y)

    return loss


FORM_CASES = {
    "scale": {"eps": 0.6, "normalize": True},
    "scale_raw": {"eps": 0.6, "normalize": False},
    "shift": {"eps": 0.3},
    "clip": {"tau_max": 1.6},  # tau ~ 0.8 near the typical norm: some samples clipped, some not
    "matrix": {"eps": 0.6, "normalize": True, "zero_sum": True},
    "matrix_raw": {"eps": 0.6, "normalize": False, "zero_sum": False},
}


def form_of(case: str) -> Form:
    return make_form(case.removesuffix("_raw"), **FORM_CASES[case])


def build_problem(warm: int = 2, batchnorm: bool = True, batch: int = 8):
    """(model, optimizer, batch, meta_batch) after ``warm`` real steps."""
    model = make_model(batchnorm=batchnorm)
    optimizer = make_optimizer(model)
    warm_up(model, optimizer, warm)
    train_batch, meta_batch = make_batches(batch=batch)
    return model, optimizer, train_batch, meta_batch


def clone_pair(model: nn.Module, optimizer: torch.optim.Optimizer):
    """Deep copy of model and optimizer together (the optimizer keeps pointing at the copy)."""
    return copy.deepcopy((model, optimizer))


def ctx(meta_batch=None) -> TrainContext:
    batches = None if meta_batch is None else (lambda size: itertools.repeat(meta_batch))
    return TrainContext(
        num_classes=3, class_counts=[10, 10, 10], epochs=2, steps_per_epoch=3, meta_batches=batches
    )


def info(epoch: int = 0, step: int = 0) -> StepInfo:
    return StepInfo(epoch=epoch, step=step, steps_per_epoch=3, epochs=2)


def assert_identical(model_a, opt_a, model_b, opt_b) -> None:
    for a, b in zip(model_a.state_dict().values(), model_b.state_dict().values(), strict=True):
        assert torch.equal(a, b)  # parameters and BN buffers, num_batches_tracked included
    for pa, pb in zip(model_a.parameters(), model_b.parameters(), strict=True):
        assert torch.equal(opt_a.state[pa]["momentum_buffer"], opt_b.state[pb]["momentum_buffer"])


class TwoPass(Method):
    """A stand-in step-based base (like SAM): it calls ``loss_fn`` twice per step."""

    kind = "step"

    def train_step(self, model, optimizer, x, y, step, loss_fn=None):
        loss_fn = loss_fn or self.loss
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        loss_fn(model(x), y).backward()
        optimizer.step()
        return {"loss": 0.0}
