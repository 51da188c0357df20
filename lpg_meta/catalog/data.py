"""The data sources' declarations: the settings every source has, each source's own, its default model.

Implementations are ``lpg_meta/data/<file>.py``, imported when data are built. A source's own
setting of a common name (digits' ``many_threshold``) replaces the common default.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lpg_meta.errors import UserError
from lpg_meta.params import Param
from lpg_meta.registry import DATASETS, SourceDeclaration

NOISE_KINDS = ("none", "sym_incl", "sym_excl", "pair", "asym")
PROFILES = ("exp", "step")

# Settings every dataset accepts (rules across settings, and the integer-or-null ones: check_data_settings).
COMMON: dict[str, Param] = {
    "imbalance": Param(1.0, low=1.0, note="1 = balanced", help="rho = n_max / n_min"),
    "profile": Param("exp", choices=PROFILES, help="how class counts fall from n_max to n_max / rho"),
    "n_max": Param(None, help="null: the smallest per-class count left after the meta/val splits"),
    "noise": Param("none", choices=NOISE_KINDS),
    "noise_rate": Param(0.0, low=0.0, high=1.0, high_open=True),
    "noise_map": Param({}, help="asym map {source label: target label} for datasets without a built-in one"),
    "meta_per_class": Param(10, low=0, help="clean meta-split samples per class"),
    "val_per_class": Param(None, help="null: as meta_per_class (the same size)"),
    "seed": Param(None, help="null: the run seed"),
    "many_threshold": Param(100, low=0, help="many-shot: train count > many_threshold"),
    "few_threshold": Param(20, low=0, help="few-shot: train count < few_threshold"),
}


def _source(name: str, module: str, display: str, description: str, params: dict[str, Param], **more: object) -> None:
    DATASETS.declare(SourceDeclaration(name=name, module=f"lpg_meta.data.{module}", params={**COMMON, **params},
                                       display_name=display, description=description, **more))  # type: ignore[arg-type]


_source("mnist1d", "mnist1d", "MNIST-1D", "MNIST-1D (Greydanus 2020): 10 classes of 40-sample 1-d signals, "
        "generated.", {"num_samples": Param(10000, low=100, note="10 a class"), "generator_seed": Param(42, low=0)},
        default_model="cnn1d", reference="Greydanus 2020")
# ~125 training images a class: shot thresholds scaled down from CIFAR's 100 / 20.
_source("digits", "digits", "Digits", "scikit-learn's 8x8 digits (1,797 images, 10 classes), bundled.", {
    "test_fraction": Param(0.3, low=0.0, high=1.0, low_open=True, high_open=True),
    "test_split_seed": Param(0, low=0),
    "many_threshold": Param(50, low=0),
    "few_threshold": Param(15, low=0),
}, default_model="cnn2d")
_CIFAR = {"root": Param(None, help="the folder holding the extracted archive"), "download": Param(False)}
# n_max: the LDAM-DRW protocol's largest class.
_source("cifar10", "cifar", "CIFAR-10", "CIFAR-10 (Krizhevsky 2009); root holds cifar-10-batches-py.",
        {**_CIFAR, "n_max": Param(5000, low=1)}, default_model="resnet32", pool_counts=(5000,) * 10,
        reference="Krizhevsky 2009")
_source("cifar100", "cifar", "CIFAR-100", "CIFAR-100, fine labels (Krizhevsky 2009); root holds cifar-100-python.",
        {**_CIFAR, "n_max": Param(500, low=1)}, default_model="resnet32", pool_counts=(500,) * 100,
        reference="Krizhevsky 2009")
_source("imagefolder", "imagefolder", "ImageFolder", "Images in root/train/CLASS/ and root/test/CLASS/ folders.",
        {"root": Param(None, help="the image folder"), "image_size": Param(32, low=4)}, default_model="resnet32")


def _data_key(key: str) -> str:
    return f"data.{key}"


def _int_or_none(params: dict[str, Any], key: str, minimum: int, field: Callable[[str], str]) -> None:
    # resolve_params cannot type-check settings whose default is None, so check them here.
    value = params[key]
    if value is None:
        return
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UserError(f"{field(key)} must be an integer >= {minimum} or null, got {value!r}.")
    params[key] = value


def check_data_settings(params: dict[str, Any], field: Callable[[str], str] = _data_key) -> None:
    """Reject the mistakes the declared ranges cannot see: rules across settings, integer-or-null settings.

    Args:
        params: resolved settings (the declared defaults with the user's over them); a whole float
            in a setting whose default is None (``n_max``, ``val_per_class``, ``seed``) is made
            an int in place.
        field: how a message names setting ``key``: ``data.KEY`` by default; a suite names the
            row or the defaults entry that set it.
    """
    rate = params["noise_rate"]
    if params["noise"] == "none" and rate > 0:
        raise UserError(
            f"{field('noise_rate')} is {rate} but {field('noise')} is 'none'; set {field('noise')} "
            f"to one of {', '.join(NOISE_KINDS[1:])}, or the rate to 0."
        )
    if params["few_threshold"] > params["many_threshold"]:
        raise UserError(
            f"{field('few_threshold')} ({params['few_threshold']}) must not exceed "
            f"{field('many_threshold')} ({params['many_threshold']})."
        )
    _int_or_none(params, "n_max", 1, field)
    _int_or_none(params, "val_per_class", 0, field)
    _int_or_none(params, "seed", 0, field)
