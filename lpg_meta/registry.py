"""Decorator registries, one per kind (methods, datasets, models), in the style of timm."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Generic, TypeVar

from lpg_meta.errors import UserError, closest

if TYPE_CHECKING:  # the entry types; their modules import this one
    from torch import nn

    from lpg_meta.data.base import Source
    from lpg_meta.methods.base import Method

Entry = TypeVar("Entry")


class Registry(Generic[Entry]):
    """Maps names to builders of type ``Entry``; ``@REGISTRY.register("name")`` adds one."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(self, name: str | None = None) -> Callable[[Entry], Entry]:
        """Return a decorator that registers its target under ``name`` (default: its ``name`` attribute)."""

        def decorator(obj: Entry) -> Entry:
            key = name or getattr(obj, "name", None) or obj.__name__  # type: ignore[attr-defined]
            if key in self._entries:
                raise ValueError(f"{self.kind} '{key}' is registered twice")
            self._entries[key] = obj
            return obj

        return decorator

    def get(self, name: str) -> Entry:
        """Return the entry for ``name`` or raise a UserError that suggests the closest name."""
        if name not in self._entries:
            raise UserError(
                f"unknown {self.kind} '{name}'.{closest(name, self._entries)} "
                f"Known: {', '.join(sorted(self._entries))}."
            )
        return self._entries[name]

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)


METHODS: Registry[type[Method]] = Registry("method")
DATASETS: Registry[type[Source]] = Registry("dataset")
MODELS: Registry[type[nn.Module]] = Registry("model")
