"""Wide ResNet (Zagoruyko & Komodakis 2016) for 32x32 images, WRN-28-10 by default.

Pre-activation blocks (BN-ReLU-conv), a 1x1 convolution on the shortcut when the
shape changes, dropout between the two convolutions of a block. WRN-28-10 on 10
classes has 36,479,194 parameters.
"""

from __future__ import annotations

import torch
from torch import nn

from lpg_meta.errors import UserError
from lpg_meta.models._common import image_shape
from lpg_meta.registry import MODELS


class WideBlock(nn.Module):
    """BN-ReLU-conv3x3-BN-ReLU-(dropout)-conv3x3, added to the (projected) input."""

    def __init__(self, in_planes: int, planes: int, stride: int, dropout: float) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.relu1 = nn.ReLU()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu2 = nn.ReLU()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.project = (
            nn.Conv2d(in_planes, planes, 1, stride, 0, bias=False)
            if stride != 1 or in_planes != planes
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = self.relu1(self.bn1(x))
        out = self.conv2(self.dropout(self.relu2(self.bn2(self.conv1(o)))))
        # As in the reference code, a projection shortcut reads the pre-activated input.
        shortcut = x if self.project is None else self.project(o)
        return out + shortcut


@MODELS.register("wrn28_10")
class WideResNet(nn.Module):
    """WRN-``depth``-``widen_factor``: three groups of ``(depth - 4) / 6`` wide blocks."""


    def __init__(
        self,
        num_classes: int,
        input_shape: tuple[int, ...],
        *,
        depth: int,
        widen_factor: int,
        dropout: float,
    ) -> None:
        super().__init__()
        channels, _, _ = image_shape("wrn28_10", input_shape)
        if depth < 10 or (depth - 4) % 6:
            raise UserError(f"model.depth of 'wrn28_10' must be 6n + 4 with n >= 1, got {depth}.")
        n = (depth - 4) // 6
        widths = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        self.conv1 = nn.Conv2d(channels, widths[0], 3, 1, 1, bias=False)
        groups: list[nn.Module] = []
        in_planes = widths[0]
        for planes, stride in zip(widths[1:], (1, 2, 2), strict=True):
            blocks = []
            for i in range(n):
                blocks.append(WideBlock(in_planes, planes, stride if i == 0 else 1, dropout))
                in_planes = planes
            groups.append(nn.Sequential(*blocks))
        self.block1, self.block2, self.block3 = groups
        self.bn = nn.BatchNorm2d(in_planes)
        self.relu = nn.ReLU()
        self.linear = nn.Linear(in_planes, num_classes)
        for m in self.modules():
            # The reference initialisation: He-normal (fan_out) convs, unit BN, zero biases.
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block3(self.block2(self.block1(self.conv1(x))))
        out = self.relu(self.bn(out))
        return self.linear(out.mean(dim=(2, 3)))
