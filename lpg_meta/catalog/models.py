"""The models' declarations: settings (default, range, identity) and measured step time.

Implementations are ``lpg_meta/models/<file>.py``, imported when a model is built; each is an
``nn.Module`` with the constructor ``(num_classes, input_shape, **settings)``.
"""

from __future__ import annotations

from lpg_meta.params import Param
from lpg_meta.registry import MODELS, ModelDeclaration

# A cosine classifier (LDAM's NormedLinear) came after runs were recorded: left out of a config
# while "linear" (same hash).
HEADS = ("linear", "cosine")
_HEAD = {"head": Param("linear", choices=HEADS, identity="when_set", help="linear, or cosine (LDAM's NormedLinear)")}
_CNN = {"width": Param(32, low=1), "batchnorm": Param(True), **_HEAD}

MODELS.declare(ModelDeclaration(name="cnn1d", module="lpg_meta.models.cnn", params=_CNN, display_name="CNN-1D",
                                description="A small 1-d convolutional net (MNIST-1D)."))
MODELS.declare(ModelDeclaration(name="cnn2d", module="lpg_meta.models.cnn", params=_CNN, display_name="CNN-2D",
                                description="A small 2-d convolutional net (digits, small images)."))
MODELS.declare(ModelDeclaration(name="mlp", module="lpg_meta.models.mlp", display_name="MLP",
                                description="Flatten, depth hidden ReLU layers of width units, a linear classifier.",
                                params={"width": Param(100, low=1), "depth": Param(2, low=0)}))
# Seconds per ce training step at batch 128 on the reference machine (2 cores); models without one
# take the small models' fitted time (bench/estimate.py). resnet32: 0.48 s measured at 2 threads
# (results/bench/meta_step.json), plus ~5% for evaluating 1/5 as many images per epoch.
MODELS.declare(ModelDeclaration(name="resnet32", module="lpg_meta.models.resnet_cifar", params=_HEAD,
                                display_name="ResNet-32", description="ResNet-32 for 32x32 images (He et al. 2016).",
                                reference="He et al. 2016", step_seconds=0.5))
# wrn28_10 was not measured on CPU: ResNet-32's time times the ratio of forward FLOPs (5.25 G /
# 0.069 G per 32x32 image, ~76x).
MODELS.declare(ModelDeclaration(
    name="wrn28_10", module="lpg_meta.models.wide_resnet", display_name="WRN-28-10",
    description="Wide ResNet (depth 6n + 4, widen_factor), for 32x32 images.", reference="Zagoruyko and Komodakis 2016",
    params={"depth": Param(28, low=10, note="6n + 4 with n >= 1"), "widen_factor": Param(10, low=1),
            "dropout": Param(0.0, low=0.0, high=1.0, high_open=True)},
    step_seconds=38.0))
