"""The CUDA path: meta-gradients on the GPU equal the CPU's, dropout masks replay, bf16 runs train.

Skipped without a GPU, unless ``LPG_REQUIRE_CUDA=1`` (``benchmarks/gpu_check.sh`` sets it), which
makes a missing GPU fail these tests instead of skipping them.
"""

from __future__ import annotations

import copy
import math
import os

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lpg_meta.config import resolve_config
from lpg_meta.lpg import build_form, lookahead_meta_grad
from lpg_meta.perturb import perturb_logit_grad
from lpg_meta.train.trainer import train

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available() and os.environ.get("LPG_REQUIRE_CUDA") != "1",
    reason="no CUDA device (LPG_REQUIRE_CUDA=1 makes this a failure)",
)


def _problem(dropout: bool):
    """A float64 conv net with BatchNorm (and dropout), SGD with Nesterov momentum, two batches."""
    torch.manual_seed(0)
    layers: list[nn.Module] = [nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten()]
    if dropout:
        layers.append(nn.Dropout(0.3))
    layers.append(nn.Linear(8 * 8 * 8, 10))
    model = nn.Sequential(*layers).double()
    gen = torch.Generator().manual_seed(1)
    x, x_m = (torch.randn(32, 3, 8, 8, generator=gen, dtype=torch.float64) for _ in range(2))
    y, y_m = (torch.randint(0, 10, (32,), generator=gen) for _ in range(2))
    form = build_form("matrix", 10, eps=0.5).double()
    with torch.no_grad():
        form.phi.copy_(0.5 * torch.randn(form.phi.shape, generator=gen, dtype=torch.float64))
    return model, (x, y), (x_m, y_m), form


def _meta_grad(device: str, backend: str, dropout: bool = False) -> torch.Tensor:
    model, batch, meta_batch, form = copy.deepcopy(_problem(dropout))
    model, form = model.to(device), form.to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    batch, meta_batch = (tuple(t.to(device) for t in b) for b in (batch, meta_batch))

    def loss(u: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(perturb_logit_grad(u, lambda g: form.transform(g, y)), y)

    torch.manual_seed(5)
    torch.cuda.manual_seed_all(5)
    (grad,), _ = lookahead_meta_grad(model, optimizer, batch, meta_batch, loss, [form.phi], backend)
    return grad.cpu()


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


@pytest.mark.parametrize("backend", ["jvp", "fd", "higher"])
def test_meta_gradient_on_cuda_equals_the_cpu_one(backend: str) -> None:
    # float64 on both: the kernels differ in summation order only (rounding ~1e-16 times the
    # network's conditioning); fd's own error (100 sqrt(u) = 1.5e-6, test_lpg_fd) is the same
    # function on both devices up to that rounding divided by its step, about 1e-8.
    tol = 1e-6 if backend == "fd" else 1e-9
    assert _rel(_meta_grad("cuda", backend), _meta_grad("cpu", backend)) < tol


def test_jvp_replays_the_cuda_dropout_masks() -> None:
    # jvp replays the GPU RNG state of the forward; a fresh mask would not match higher's.
    assert _rel(_meta_grad("cuda", "jvp", dropout=True), _meta_grad("cuda", "higher", dropout=True)) < 1e-9


@pytest.mark.parametrize("backend", ["jvp", "fd"])
def test_lpg_trains_on_cuda_with_bf16_and_channels_last(backend: str) -> None:
    cfg = resolve_config({"dataset": "digits", "method": "lpg", "seed": 0, "method_params": {"backend": backend},
                          "train": {"epochs": 2, "progress": "none", "device": "cuda", "amp": "bf16",
                                    "channels_last": True, "max_steps_per_epoch": 4}})
    result = train(cfg)
    assert result["timing"]["device"].startswith("cuda")
    assert result["timing"]["amp"] == "bf16" and result["timing"]["channels_last"]
    assert result["lpg"]["backend"] == backend and all(math.isfinite(v) for v in result["lpg"]["meta_loss"])
    assert 0.0 <= result["metrics"]["test"]["balanced_accuracy"] <= 1.0
