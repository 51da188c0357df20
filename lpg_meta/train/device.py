"""Accelerator settings of a run: device, bf16 autocast, channels-last and a worker DataLoader.

Every default keeps the CPU path exactly as it was (float32, contiguous tensors, batches built
in the training process from one generator), so CPU results are bit-identical with or without
this module. The options matter on CUDA:

- ``train.amp: bf16`` runs forward passes under ``torch.autocast(dtype=bfloat16)``; the model's
  logits are cast back to float32 by a forward hook, so every loss, logit-gradient perturbation
  and meta-gradient is computed in float32 (only the network's inside runs in bf16);
- ``train.channels_last`` (default: on for conv nets on CUDA) stores weights and image batches
  NHWC, the layout cuDNN's tensor-core convolutions prefer;
- ``train.num_workers: N`` builds (indexes, augments, normalises) training batches in N worker
  processes and pins them when the device is CUDA. Each batch draws its augmentation from its
  own seed, fixed by (run seed, epoch, batch), so results do not depend on N.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from lpg_meta.config import train_setting
from lpg_meta.data import DataBundle, Split
from lpg_meta.errors import UserError


def resolve_device(name: str) -> torch.device:
    """``auto`` -> the current CUDA device when one is visible, else CPU; ``cuda:N`` must exist.

    ``cuda`` and ``auto`` name the process's current CUDA device (``lpg-meta run`` makes it each
    worker's own GPU; it is GPU 0 otherwise); a missing GPU is a UserError.
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise UserError(f"train.device is {name} but no CUDA device is visible; use train.device=cpu.")
    index = int(name.partition(":")[2] or torch.cuda.current_device())
    if index >= torch.cuda.device_count():
        raise UserError(f"train.device is {name} but this machine has GPUs 0 to {torch.cuda.device_count() - 1}; "
                        "use one of those, or cuda for the current one.")
    return torch.device("cuda", index)


def has_conv2d(model: nn.Module) -> bool:
    """Whether the model has a 2-d convolution (where the channels-last layout pays)."""
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def use_channels_last(train: dict[str, Any], model: nn.Module, device: torch.device) -> bool:
    """``train.channels_last``; unset means on for 2-d conv nets on CUDA only."""
    value = train_setting(train, "channels_last")
    if value is None:
        return device.type == "cuda" and has_conv2d(model)
    return bool(value)


def _float_logits(_module: nn.Module, _inputs: Any, output: torch.Tensor) -> torch.Tensor:
    # Under autocast the head returns bf16; losses and LPG's perturbations want float32.
    return output.float()


class Accelerator:
    """The resolved device options of one run; ``prepare_model`` and ``autocast`` apply them."""

    def __init__(self, train: dict[str, Any], device: torch.device) -> None:
        self.device = device
        self.amp = train_setting(train, "amp")
        self.num_workers = int(train_setting(train, "num_workers"))
        self.channels_last = False
        if self.amp == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise UserError("train.amp=bf16 but this GPU has no bfloat16 support; set train.amp=none.")

    def prepare_model(self, model: nn.Module, train: dict[str, Any]) -> nn.Module:
        """Move the model to the device, in channels-last layout if asked, with float32 logits under amp."""
        self.channels_last = use_channels_last(train, model, self.device)
        model = model.to(self.device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        if self.amp == "bf16":
            model.register_forward_hook(_float_logits)
        return model

    def autocast(self) -> contextlib.AbstractContextManager:
        """bf16 autocast when ``train.amp`` is bf16; a no-op context otherwise."""
        if self.amp != "bf16":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def to_device(self, x: torch.Tensor) -> torch.Tensor:
        """Move a model-input batch to the device (NHWC when channels-last)."""
        x = x.to(self.device, non_blocking=True)
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def record(self) -> dict[str, Any]:
        """The settings in effect, for ``result.json``'s timing section."""
        return {"amp": self.amp, "channels_last": self.channels_last, "num_workers": self.num_workers}


class EpochBatches(torch.utils.data.Dataset):
    """Training batch ``(epoch, i)`` of a split, prepared (augmented, normalised) on the CPU.

    The shuffle of an epoch and the augmentation of each batch come from seeds derived from
    ``seed``, so a batch is the same whichever worker builds it.
    """

    def __init__(self, split: Split, bundle: DataBundle, batch_size: int, batches: int, seed: int) -> None:
        self.split, self.bundle, self.batch_size, self.seed = split, bundle, batch_size, seed
        self.batches = batches  # ``steps_in_epoch``: the in-process loop's rule for a short last batch
        self._order: tuple[int, torch.Tensor] | None = None  # (epoch, permutation), per worker

    def order(self, epoch: int) -> torch.Tensor:
        """The epoch's shuffle (drawn once per epoch in each worker)."""
        if self._order is None or self._order[0] != epoch:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._order = (epoch, torch.randperm(len(self.split.y), generator=gen))
        return self._order[1]

    def __len__(self) -> int:
        return self.batches

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, i = key
        idx = self.order(epoch)[i * self.batch_size : (i + 1) * self.batch_size]
        gen = torch.Generator().manual_seed((self.seed * 1_000_003 + epoch) * 100_003 + i)
        return self.bundle.prepare(self.split.x[idx], train=True, generator=gen), self.split.y[idx]


class _EpochSampler(torch.utils.data.Sampler):
    """Yields ``(epoch, batch)`` keys; the loop sets ``epoch`` before iterating the loader."""

    def __init__(self, batches: int) -> None:
        self.batches, self.epoch = batches, 0

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter([(self.epoch, i) for i in range(self.batches)])

    def __len__(self) -> int:
        return self.batches


class WorkerBatches:
    """Training batches of every epoch from a persistent multi-worker DataLoader."""

    def __init__(self, dataset: EpochBatches, num_workers: int, device: torch.device) -> None:
        self.sampler = _EpochSampler(len(dataset))
        self.loader = torch.utils.data.DataLoader(
            dataset, batch_size=None, sampler=self.sampler, num_workers=num_workers,
            pin_memory=device.type == "cuda", persistent_workers=True,
        )

    def epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches of ``epoch``, in order."""
        self.sampler.epoch = epoch
        return iter(self.loader)
