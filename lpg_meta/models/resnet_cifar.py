"""CIFAR ResNet-32 as used by LDAM-DRW (He et al. 2016, Section 4.2; option-A shortcuts).

Three stages of five BasicBlocks with 16, 32 and 64 channels, identity shortcuts that
subsample and zero-pad channels when the shape changes ("option A"), Kaiming-normal
initialisation of convolutions and the linear head, global average pooling. With 10
classes this is 464,154 parameters, as in ``kaidic/LDAM-DRW`` (plain linear head).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lpg_meta.models._common import image_shape, make_head
from lpg_meta.registry import MODELS


class ShortcutA(nn.Module):
    """Option-A shortcut: take every other pixel and zero-pad the new channels on both sides.

    Written as ``F.pad`` on a strided slice (no parameters, no in-place writes) so that
    forward-mode AD and ``torch.func`` transforms pass through it.
    """

    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        extra = planes - in_planes
        self.pad = (extra // 2, extra - extra // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, *self.pad))


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN, plus the shortcut, then ReLU."""

    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        if stride != 1 or in_planes != planes:
            self.shortcut: nn.Module = ShortcutA(in_planes, planes, stride)
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        # Out-of-place sum: an in-place ``+=`` would break double backward.
        return self.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet for 32x32 images with ``6n + 2`` layers (n blocks per stage)."""

    def __init__(
        self, num_classes: int, in_channels: int, blocks_per_stage: int, head: str = "linear"
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU()
        stages: list[nn.Module] = []
        in_planes = 16
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            blocks = []
            for i in range(blocks_per_stage):
                blocks.append(BasicBlock(in_planes, planes, stride if i == 0 else 1))
                in_planes = planes
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.linear = make_head("resnet32", head, 64, num_classes)
        for m in self.modules():
            # LDAM-DRW's ``_weights_init``: Kaiming-normal (fan_in) weights, default biases;
            # it leaves the cosine head (not an nn.Linear) with its own initialisation.
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        # Global average pooling; equals LDAM-DRW's avg_pool2d over the full 8x8 map.
        return self.linear(out.mean(dim=(2, 3)))


@MODELS.register("resnet32")
class ResNet32(CifarResNet):
    """ResNet-32 (5 blocks per stage), the backbone of the long-tailed CIFAR protocols."""


    def __init__(self, num_classes: int, input_shape: tuple[int, ...], *, head: str = "linear") -> None:
        channels, _, _ = image_shape("resnet32", input_shape)
        super().__init__(num_classes, channels, blocks_per_stage=5, head=head)
