"""Architecture checks: parameter counts of the reference models and forward-mode AD."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.func import functional_call, jvp

from lpg_meta.models import build_model, count_parameters


def test_mlp_and_cnn1d_match_the_mnist1d_paper_sizes() -> None:
    # MNIST-1D paper (Greydanus 2020), Table of models: MLP 15,210 and CNN 5,210 parameters.
    # MLP: 40*100+100 + 100*100+100 + 100*10+10 = 15,210.
    assert count_parameters(build_model("mlp", 10, (1, 40), {})) == 15_210
    # ConvBase, 25 channels, with conv biases: (5+1)*25 + 2*(25*25*3+25) + (25*5)*10+10 = 5,210.
    assert (
        count_parameters(build_model("cnn1d", 10, (1, 40), {"width": 25, "batchnorm": False}))
        == 5_210
    )


@pytest.mark.parametrize("width", [25, 32, 64])
@pytest.mark.parametrize("batchnorm", [True, False])
def test_cnn1d_widths(width: int, batchnorm: bool) -> None:
    model = build_model("cnn1d", 10, (1, 40), {"width": width, "batchnorm": batchnorm})
    x = torch.randn(4, 1, 40)
    # 40 -> 19 -> 10 -> 5 positions, as in ConvBase (linear_in = 5 * channels).
    assert model.features(x).shape == (4, width, 5)
    assert model.linear.in_features == 5 * width
    assert model(x).shape == model(x.reshape(4, 40)).shape == (4, 10)
    assert sum(isinstance(m, nn.BatchNorm1d) for m in model.modules()) == (3 if batchnorm else 0)


def test_resnet32_is_the_ldam_drw_architecture() -> None:
    # 464,154 for 10 classes, counted by hand (3x3 convs without bias, BN has 2 per channel):
    #   stem: 3*16*9 + 2*16                                     =     464
    #   stage 1: 5 * (2 * 16*16*9 + 2 * 32)                      =  23,360
    #   stage 2: (16*32*9 + 32*32*9 + 128) + 4 * (2*32*32*9 + 128) =  88,192
    #   stage 3: (32*64*9 + 64*64*9 + 256) + 4 * (2*64*64*9 + 256) = 351,488
    #   linear: 64*10 + 10                                       =     650
    torch.manual_seed(0)
    model = build_model("resnet32", 10, (3, 32, 32), {})
    assert count_parameters(model) == 464_154
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(convs) + len(linears) == 32  # 6n + 2 weighted layers with n = 5
    assert all(c.kernel_size == (3, 3) for c in convs)  # option A: no 1x1 projection shortcuts
    model.eval()
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_resnet32_option_a_shortcut_pads_channels() -> None:
    model = build_model("resnet32", 10, (3, 32, 32), {})
    block = model.layer2[0]
    x = torch.randn(2, 16, 8, 8)
    s = block.shortcut(x)
    assert s.shape == (2, 32, 4, 4)
    assert torch.equal(s[:, 8:24], x[:, :, ::2, ::2])  # planes // 4 = 8 zero channels each side
    assert s[:, :8].abs().sum() == 0 and s[:, 24:].abs().sum() == 0


def test_wrn28_10_size_and_one_forward() -> None:
    # WRN-28-10: 36,479,194 parameters on 10 classes (Zagoruyko & Komodakis report 36.5M).
    torch.manual_seed(0)
    model = build_model("wrn28_10", 10, (3, 32, 32), {})
    assert count_parameters(model) == 36_479_194
    assert model.linear.in_features == 640
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 3, 32, 32)).shape == (1, 10)


def _jvp_vs_reverse(name: str, shape: tuple[int, ...], train: bool) -> None:
    torch.manual_seed(0)
    model = build_model(name, 5, shape, {}).double().train(train)
    x = torch.randn(4, *shape, dtype=torch.float64)
    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = dict(model.named_buffers())
    before = {k: v.clone() for k, v in buffers.items()}
    tangents = {k: torch.randn_like(v) for k, v in params.items()}

    def f(p: dict[str, torch.Tensor]) -> torch.Tensor:
        # BatchNorm updates its running statistics in place; torch.func refuses in-place
        # writes to tensors captured from outside, so hand it copies made inside.
        return functional_call(model, {**p, **{k: b.clone() for k, b in buffers.items()}}, (x,))

    out, dout = jvp(f, (params,), (tangents,))
    assert out.shape == dout.shape == (4, 5)
    assert all(torch.equal(before[k], v) for k, v in buffers.items())
    # Check J v against reverse mode: u . (J v) == (J^T u) . v for a random u.
    u = torch.randn_like(out)
    primals = {k: v.clone().requires_grad_() for k, v in params.items()}
    grads = torch.autograd.grad((f(primals) * u).sum(), list(primals.values()))
    reverse = sum((g * tangents[k]).sum() for k, g in zip(primals, grads, strict=True))
    torch.testing.assert_close((u * dout).sum(), reverse, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("name, shape", [("cnn1d", (1, 40)), ("resnet32", (3, 16, 16))])
def test_jvp_over_parameters(name: str, shape: tuple[int, ...], train: bool) -> None:
    _jvp_vs_reverse(name, shape, train)
