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

    def __init__(self, kind: str, sets_name: bool = False) -> None:
        """A registry of ``kind`` entries (the word in messages: ``method``).

        With ``sets_name``, the decorator gives each registered class its key as the ``name``
        attribute, so an entry's name is written once, in the decorator.
        """
        self.kind = kind
        self.sets_name = sets_name
        self._entries: dict[str, Entry] = {}

    def register(self, name: str) -> Callable[[Entry], Entry]:
        """Return a decorator that registers its target under ``name``."""

        def decorator(obj: Entry) -> Entry:
            if name in self._entries:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            if self.sets_name:
                obj.name = name  # type: ignore[attr-defined]
            self._entries[name] = obj
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


METHODS: Registry[type[Method]] = Registry("method", sets_name=True)
DATASETS: Registry[type[Source]] = Registry("dataset", sets_name=True)
MODELS: Registry[type[nn.Module]] = Registry("model")
