"""Architecture checks: parameter counts of the reference models and forward-mode AD."""

from __future__ import annotations

import math

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


def test_cosine_head_logits_are_cosines_and_ldam_scales_them_by_s() -> None:
    """LDAM-DRW's NormedLinear: u_c = cos(feature, w_c); ldam's loss is CE(s * (u - m_y e_y))."""
    import torch.nn.functional as F

    from lpg_meta.methods.ldam import ldam_per_sample
    from lpg_meta.models._common import NormedLinear

    head = NormedLinear(2, 2).double()
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0]]))  # columns: class weights
    # Feature (3, 4): cosine 3/5 with (1, 0) and 4/5 with (0, 2), whatever their lengths.
    u = head(torch.tensor([[3.0, 4.0], [-6.0, 0.0]], dtype=torch.float64))
    expected = torch.tensor([[0.6, 0.8], [-1.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(u, expected, rtol=0, atol=1e-15)
    y = torch.tensor([1, 0])
    loss = ldam_per_sample(u, y, torch.zeros(2), s=30.0)  # no margin: plain CE of s * cos
    # -log(e^24 / (e^18 + e^24)) = log(1 + e^-6); -log(e^-30 / (e^-30 + e^0)) = 30 + log(1 + e^-30).
    by_hand = torch.tensor([math.log1p(math.exp(-6)), 30 + math.log1p(math.exp(-30))], dtype=torch.float64)
    torch.testing.assert_close(loss, by_hand, rtol=1e-12, atol=0)  # float64: 1e-16 a step
    torch.testing.assert_close(loss, F.cross_entropy(30 * u, y, reduction="none"))


@pytest.mark.parametrize("name, shape", [("cnn1d", (1, 40)), ("cnn2d", (1, 8, 8)), ("resnet32", (3, 32, 32))])
def test_cosine_head_option(name: str, shape: tuple) -> None:
    from lpg_meta.config import resolve_config
    from lpg_meta.models._common import NormedLinear

    torch.manual_seed(0)
    model = build_model(name, 5, shape, {"head": "cosine"})
    assert isinstance(model.linear, NormedLinear)
    torch.testing.assert_close(model.linear.weight.norm(dim=0), torch.ones(5))  # unit columns
    model.eval()
    features = {}
    model.linear.register_forward_hook(lambda m, i, o: features.update(x=i[0]))  # returns None
    out = model(torch.randn(3, *shape))
    cos = cosines(features["x"], model.linear.weight)
    torch.testing.assert_close(out, cos, rtol=1e-5, atol=1e-6)
    assert out.abs().max() <= 1 + 1e-6
    # Left at "linear", the option stays out of the resolved config (earlier hashes hold).
    dataset = "digits" if name == "cnn2d" else "mnist1d"
    assert "head" not in resolve_config({"dataset": dataset, "model": name})["model_params"]


def cosines(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Cosine of each row of ``x`` with each column of ``w``, one pair at a time."""
    return torch.stack([
        torch.stack([torch.nn.functional.cosine_similarity(xi, w[:, c], dim=0) for c in range(w.shape[1])])
        for xi in x
    ])
