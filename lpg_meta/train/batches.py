"""Mini-batch orders that can be checkpointed: the permutation, the position and the generator."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch

from lpg_meta.data import DataBundle, Split
from lpg_meta.train.device import Accelerator

Batch = tuple[torch.Tensor, torch.Tensor]


class BatchOrder:
    """The index batches of one pass over ``n`` samples, drawn from ``generator``.

    ``state_dict`` holds the pass's order, the position in it and the generator's state, so a
    resumed run draws exactly the batches (and augmentations) an uninterrupted one would.
    A last batch smaller than half a batch is dropped when shuffling: a tiny batch gives
    BatchNorm and the meta step noisy statistics.
    """

    def __init__(self, n: int, batch_size: int, generator: torch.Generator, shuffle: bool = True) -> None:
        self.n, self.batch_size, self.generator, self.shuffle = n, batch_size, generator, shuffle
        self.order: torch.Tensor | None = None
        self.pos = 0

    def start_pass(self) -> None:
        """Draw a new pass's order (a permutation when shuffling)."""
        self.order = torch.randperm(self.n, generator=self.generator) if self.shuffle else torch.arange(self.n)
        self.pos = 0

    def take(self) -> torch.Tensor | None:
        """The next batch's indices, or None at the end of the pass."""
        if self.order is None or self.pos >= self.n:
            return None
        idx = self.order[self.pos : self.pos + self.batch_size]
        if self.shuffle and len(idx) < max(2, self.batch_size // 2) and self.pos > 0:
            return None
        self.pos += self.batch_size
        return idx

    def state_dict(self) -> dict[str, Any]:
        return {"order": self.order, "pos": self.pos, "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.order, self.pos = state["order"], state["pos"]
        self.generator.set_state(state["generator"])


def iterate_batches(split: Split, batch_size: int, generator: torch.Generator, shuffle: bool = True) -> Iterator[Batch]:
    """Yield one pass of ``(x, y)`` mini-batches (``BatchOrder``'s rule for a tiny last batch)."""
    order = BatchOrder(len(split.y), batch_size, generator, shuffle)
    order.start_pass()
    while (idx := order.take()) is not None:
        yield split.x[idx], split.y[idx]


def prepare(x: torch.Tensor, bundle: DataBundle, train: bool, generator: torch.Generator,
            acc: Accelerator) -> torch.Tensor:
    """A stored batch as model input on the device (augmented when ``train``)."""
    return acc.to_device(bundle.prepare(x, train=train, generator=generator))


class MetaBatches:
    """An endless stream of clean meta batches, reshuffled each pass, that can be checkpointed."""

    def __init__(self, bundle: DataBundle, batch_size: int, generator: torch.Generator, acc: Accelerator) -> None:
        self.bundle, self.acc = bundle, acc
        self.order = BatchOrder(len(bundle.meta.y), min(batch_size, len(bundle.meta.y)), generator)

    def __iter__(self) -> MetaBatches:
        return self

    def __next__(self) -> Batch:
        idx = self.order.take()
        if idx is None:  # the first batch, or the end of a pass
            self.order.start_pass()
            idx = self.order.take()
        assert idx is not None
        x, y = self.bundle.meta.x[idx], self.bundle.meta.y[idx]
        return prepare(x, self.bundle, False, self.order.generator, self.acc), y.to(self.acc.device)

    def state_dict(self) -> dict[str, Any]:
        return self.order.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.order.load_state_dict(state)


def meta_batch_source(
    bundle: DataBundle, generator: torch.Generator, acc: Accelerator
) -> Callable[[int], MetaBatches]:
    """A factory of endless, reshuffled mini-batch streams over the clean meta split."""

    def stream(batch_size: int) -> MetaBatches:
        return MetaBatches(bundle, batch_size, generator, acc)  # resolve_config checked the meta split

    return stream
