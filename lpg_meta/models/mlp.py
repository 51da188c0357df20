"""Multi-layer perceptron on flattened inputs."""

from __future__ import annotations

import math

import torch
from torch import nn

from lpg_meta.registry import MODELS


@MODELS.register("mlp")
class MLP(nn.Module):
    """Flatten, ``depth`` hidden layers of ``width`` units with ReLU, then a linear classifier."""


    def __init__(
        self, num_classes: int, input_shape: tuple[int, ...], *, width: int, depth: int
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        fan_in = math.prod(input_shape)
        for _ in range(depth):
            layers += [nn.Linear(fan_in, width), nn.ReLU()]
            fan_in = width
        layers.append(nn.Linear(fan_in, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
