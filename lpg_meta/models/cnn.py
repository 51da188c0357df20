"""Small convolutional networks for the CPU-scale data sets (MNIST-1D, 8x8 digits)."""

from __future__ import annotations

import torch
from torch import nn

from lpg_meta.errors import UserError
from lpg_meta.models._common import image_shape, make_head
from lpg_meta.registry import MODELS


def _conv_out(length: int, kernel: int, stride: int, padding: int) -> int:
    return (length + 2 * padding - kernel) // stride + 1


@MODELS.register("cnn1d")
class CNN1d(nn.Module):
    """The MNIST-1D authors' ``ConvBase``: three strided 1-D convolutions and a linear layer.

    Shapes follow ``mnist1d``'s ConvBase (kernel 5/3/3, stride 2, padding 1), so a
    40-long signal is reduced to 19, 10, then 5 positions. ``batchnorm`` adds a
    BatchNorm after each convolution, before its ReLU.
    """

    _SPECS = ((5, 2, 1), (3, 2, 1), (3, 2, 1))  # (kernel, stride, padding) of the three convs

    def __init__(
        self, num_classes: int, input_shape: tuple[int, ...], *, width: int, batchnorm: bool,
        head: str = "linear",
    ) -> None:
        super().__init__()
        # ConvBase accepts (L,) or (1, L) samples: it reshapes its input to one channel.
        if len(input_shape) == 2 and input_shape[0] == 1:
            length = input_shape[1]
        elif len(input_shape) == 1:
            length = input_shape[0]
        else:
            raise UserError(
                f"model 'cnn1d' needs 1-D signals of shape (1, length), got {input_shape}."
            )
        layers: list[nn.Module] = []
        channels = 1
        for kernel, stride, padding in self._SPECS:
            # The bias is redundant before a BatchNorm, which has its own shift.
            layers.append(nn.Conv1d(channels, width, kernel, stride, padding, bias=not batchnorm))
            if batchnorm:
                layers.append(nn.BatchNorm1d(width))
            layers.append(nn.ReLU())
            channels, length = width, _conv_out(length, kernel, stride, padding)
        if length < 1:
            raise UserError(
                f"model 'cnn1d': inputs of shape {input_shape} are too short "
                "for three strided convolutions."
            )
        self.features = nn.Sequential(*layers)
        self.linear = make_head("cnn1d", head, width * length, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x.reshape(x.shape[0], 1, x.shape[-1]))
        return self.linear(h.flatten(1))


@MODELS.register("cnn2d")
class CNN2d(nn.Module):
    """A small 2-D CNN for tiny images (8x8 digits): three 3x3 convolutions, global pooling, linear.

    The third convolution has stride 2 and twice the width; global average pooling
    makes the head independent of the image size.
    """


    def __init__(
        self, num_classes: int, input_shape: tuple[int, ...], *, width: int, batchnorm: bool,
        head: str = "linear",
    ) -> None:
        super().__init__()
        channels, _, _ = image_shape("cnn2d", input_shape)
        layers: list[nn.Module] = []
        for out, stride in ((width, 1), (width, 1), (2 * width, 2)):
            layers.append(nn.Conv2d(channels, out, 3, stride, 1, bias=not batchnorm))
            if batchnorm:
                layers.append(nn.BatchNorm2d(out))
            layers.append(nn.ReLU())
            channels = out
        self.features = nn.Sequential(*layers)
        self.linear = make_head("cnn2d", head, channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.features(x).mean(dim=(2, 3)))
