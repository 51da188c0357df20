"""Decorator registries, one per kind (methods, datasets, models), of declared entries.

Each entry is declared once, as data (``lpg_meta/catalog``: its settings with types, defaults,
ranges, search space and identity; its display name; its step cost; what it records), and its
implementation registers itself with ``@REGISTRY.register("name")`` in its own module, which is
imported only when the entry is first built (``get``). So the command line, the suite loader and
the report read every entry's facts without importing torch, and ``import lpg_meta`` lists them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from lpg_meta.errors import UserError, closest
from lpg_meta.params import Param, defaults_of, space_of

if TYPE_CHECKING:  # the entry types; their modules import this one
    from torch import nn

    from lpg_meta.data.base import Source
    from lpg_meta.methods.base import Method

Entry = TypeVar("Entry")


@dataclass(frozen=True)
class Declaration:
    """What every registered entry declares: its name, settings and where its code lives.

    ``module`` is the module whose import registers the implementation (None: the
    implementation registers itself where it is declared, as a test's toy method does).
    """

    name: str
    module: str | None
    params: Mapping[str, Param] = field(default_factory=dict)
    display_name: str = ""
    description: str = ""
    reference: str = ""

    @property
    def shown(self) -> str:
        """The name a paper prints: ``display_name``, or the registry name."""
        return self.display_name or self.name

    def defaults(self) -> dict[str, Any]:
        """Setting -> default value."""
        return defaults_of(self.params)

    def search_space(self) -> dict[str, tuple]:
        """The default search space (the settings that declare one)."""
        return space_of(self.params)

    def class_attributes(self) -> dict[str, Any]:
        """The attributes ``register`` gives the implementation, so its code reads them as before."""
        return {"display_name": self.display_name, "defaults": self.defaults()}


@dataclass(frozen=True)
class Quantity:
    """A per-class value a series may hold, and how a figure labels it.

    ``neutral``: the value that leaves the gradient as it is (a perturbation's 0), drawn as a
    dashed line; None where there is none (a clipping threshold).
    """

    name: str
    label: str
    neutral: float | None = None


@dataclass(frozen=True)
class Series:
    """A per-epoch series a method records, and how the report names it.

    ``result.json[record][key]`` holds one value per epoch; the report's curve is named ``name``
    and its axis ``label``. A ``per_class`` series (a learned per-class perturbation) holds one list
    of per-class values per epoch, of the quantity ``result.json[record]["quantity"]`` names
    (``label`` where it names none); its curve is ``RECORD_<quantity>`` (``curve``), and
    ``quantities`` are the ones it may hold, with their axis labels, the first the figure's own.
    """

    name: str
    record: str
    key: str
    label: str
    per_class: bool = False
    quantities: tuple[Quantity, ...] = ()

    def curve(self, quantity: str) -> str:
        """The curve a per-class series holding ``quantity`` is named by: ``RECORD_<quantity>``."""
        return f"{self.record}_{quantity}"

    def quantity_of(self, curve: str) -> Quantity | None:
        """The quantity curve ``curve`` of this per-class series holds (an undeclared one labelled by its
        own name), or None where the curve is not this series'."""
        if not self.per_class or not curve.startswith(self.curve("")):
            return None
        name = curve.removeprefix(self.curve(""))
        return next((q for q in self.quantities if q.name == name), Quantity(name, name))

    @property
    def figure_quantity(self) -> Quantity:
        """The quantity a figure of this series is labelled by: the first declared (else ``label``)."""
        return self.quantities[0] if self.quantities else Quantity(self.label, self.label)


@dataclass(frozen=True)
class MethodDeclaration(Declaration):
    """A method: its composition role, its step cost and the series it records.

    ``role`` is ``loss`` (a per-sample loss), ``step`` (a parameter-level step) or ``meta``
    (learns from the meta split); a plug-in lists the roles of the bases it wraps in
    ``accepts_bases``. ``step_cost`` is a training step's time relative to plain cross-entropy
    (what ``lpg-meta run --dry-run`` estimates with); a plug-in costs its own times its base's.
    ``family`` groups the variants of one method (``lpg`` for LPG and its ablations).
    """

    role: str = "loss"
    accepts_bases: tuple[str, ...] = ()
    compose_hint: str = ""
    needs_meta: bool = False
    step_cost: float = 1.0
    family: str = ""
    series: tuple[Series, ...] = ()
    intervention: bool = False  # hand-set, not a method to rank: the report's compact tables leave it out
    # A rule across settings that the ranges cannot say: resolved settings -> the problem (a phrase
    # naming method.KEY and the fix), or None.
    rule: Callable[[Mapping[str, Any]], str | None] | None = None

    def class_attributes(self) -> dict[str, Any]:
        return {**super().class_attributes(), "search_space": self.search_space(), "kind": self.role,
                "needs_meta": self.needs_meta, "step_cost": self.step_cost,
                "accepts_bases": self.accepts_bases, "compose_hint": self.compose_hint}


@dataclass(frozen=True)
class SourceDeclaration(Declaration):
    """A data source: its default model and, where fixed, its per-class training-pool sizes."""

    default_model: str = "cnn2d"
    # Per-class pool sizes when they are fixed (CIFAR), so that a dry run can size an epoch before
    # the files are on disk; None where they depend on the settings or the files.
    pool_counts: tuple[int, ...] | None = None

    def class_attributes(self) -> dict[str, Any]:
        counts = None if self.pool_counts is None else list(self.pool_counts)
        return {**super().class_attributes(), "default_model": self.default_model, "pool_counts": counts}


@dataclass(frozen=True)
class ModelDeclaration(Declaration):
    """A model; ``step_seconds``: a ce step at batch 128 on the reference CPU, where measured."""

    step_seconds: float | None = None


class Registry(Generic[Entry]):
    """Maps names to declared entries; ``get`` returns the implementation, imported on first use."""

    def __init__(self, kind: str, sets_name: bool = False) -> None:
        """A registry of ``kind`` entries (the word in messages: ``method``).

        With ``sets_name``, the decorator gives each registered class its key as the ``name``
        attribute, so an entry's name is written once.
        """
        self.kind = kind
        self.sets_name = sets_name
        self._declarations: dict[str, Declaration] = {}
        self._entries: dict[str, Entry] = {}

    def declare(self, declaration: Declaration, replace: bool = False) -> Declaration:
        """Add an entry's declaration (its implementation registers itself with ``register``).

        ``replace`` swaps the declaration of a declared entry (a test changing one fact of it).
        """
        if (declaration.name in self._declarations) != replace:
            raise ValueError(f"{self.kind} '{declaration.name}' is {'not ' if replace else ''}declared yet")
        self._declarations[declaration.name] = declaration
        return declaration

    def remove(self, name: str) -> None:
        """Forget entry ``name`` (a plug-in or a test that declared one for a while)."""
        self._declarations.pop(name, None)
        self._entries.pop(name, None)

    def register(self, name: str) -> Callable[[Entry], Entry]:
        """Return a decorator that registers its target as the implementation of declared ``name``."""

        def decorator(obj: Entry) -> Entry:
            declaration = self._declarations.get(name)
            if declaration is None:
                raise ValueError(f"{self.kind} '{name}' is registered but not declared (lpg_meta/catalog)")
            if name in self._entries:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            for key, value in declaration.class_attributes().items():
                setattr(obj, key, value)
            if self.sets_name:
                obj.name = name  # type: ignore[attr-defined]
            obj.declaration = declaration  # type: ignore[attr-defined]
            self._entries[name] = obj
            return obj

        return decorator

    def declaration(self, name: str) -> Declaration:
        """The declaration of ``name`` (no import), or a UserError that suggests the closest name."""
        if name not in self._declarations:
            raise UserError(
                f"unknown {self.kind} '{name}'.{closest(name, self._declarations)} "
                f"Known: {', '.join(sorted(self._declarations))}."
            )
        return self._declarations[name]

    def get(self, name: str) -> Entry:
        """The implementation of ``name``, its module imported on first use."""
        declaration = self.declaration(name)
        if name not in self._entries and declaration.module is not None:
            importlib.import_module(declaration.module)
        if name not in self._entries:
            raise RuntimeError(f"{declaration.module} does not register {self.kind} '{name}'")
        return self._entries[name]

    def names(self) -> list[str]:
        """The declared names, sorted."""
        return sorted(self._declarations)

    def __contains__(self, name: object) -> bool:
        return name in self._declarations

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._declarations)


METHODS: Registry[type[Method]] = Registry("method", sets_name=True)
DATASETS: Registry[type[Source]] = Registry("dataset", sets_name=True)
MODELS: Registry[type[nn.Module]] = Registry("model")

# The declarations (torch-free): every entry is listed from here on.
import lpg_meta.catalog  # noqa: E402,F401
