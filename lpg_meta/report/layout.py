"""What a suite's tables show, beside the numbers: row order, display names, and the tables.

A *spec* is plain data (JSON-able) made from a suite file by ``lpg_meta.bench.layout`` (which
may import the registries for the methods' own display names), so the report never imports
training code. Without a spec, rows keep their sorted names and every protocol gets a table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lpg_meta import catalog
from lpg_meta.catalog.methods import PROPOSED, REFERENCE
from lpg_meta.errors import UserError
from lpg_meta.results import METRIC_DIRECTIONS

PROTOCOLS = ("balanced", "long-tail", "noisy")
PROTOCOL_TITLES = {"balanced": "Balanced", "long-tail": "Long-tailed", "noisy": "Noisy-label"}
EXTRAS = ("shots", "peak")


@dataclass(frozen=True)
class MetricInfo:
    """How a metric is named in a table: full name, column header and unit ('' or '%')."""

    name: str
    header: str
    unit: str
    higher_is_better: bool


def _info(metric: str, name: str, header: str, unit: str) -> MetricInfo:
    # which way a metric improves is the result format's (results.METRIC_DIRECTIONS), not the report's
    return MetricInfo(name, header, unit, METRIC_DIRECTIONS[metric] == "maximize")


METRIC_INFO: dict[str, MetricInfo] = {
    "balanced_accuracy": _info("balanced_accuracy", "balanced accuracy", "Bal. acc.", "%"),
    "accuracy": _info("accuracy", "accuracy", "Acc.", "%"),
    "error": _info("error", "error", "Error", "%"),
    "nll": _info("nll", "negative log-likelihood", "NLL", ""),
    "ece": _info("ece", "expected calibration error", "ECE", "%"),
    "many_shot": _info("many_shot", "many-shot accuracy", "Many", "%"),
    "medium_shot": _info("medium_shot", "medium-shot accuracy", "Med.", "%"),
    "few_shot": _info("few_shot", "few-shot accuracy", "Few", "%"),
}
METRICS = tuple(METRIC_INFO)
FORMATS = ("md", "latex", "csv")  # what `lpg-meta table --format` writes
_NOISE_NAMES = {"sym_excl": "sym. excl.", "sym_incl": "sym. incl.", "sym": "sym.", "pair": "pair", "asym": "asym."}


def protocol(config: dict[str, Any]) -> str:
    """'noisy' when labels are flipped, 'long-tail' when imbalance > 1, else 'balanced'."""
    data = config.get("data") or {}
    if (data.get("noise") or "none") != "none" and float(data.get("noise_rate") or 0.0) > 0.0:
        return "noisy"
    if float(data.get("imbalance") or 1.0) > 1.0:
        return "long-tail"
    return "balanced"


def qualified(name: str, config: dict[str, Any]) -> str:
    """A data set's display name with its protocol: 'MNIST-1D (ρ = 100)', 'Digits (sym. 40 %)'."""
    data = config.get("data") or {}
    kind = protocol(config)
    if kind == "long-tail":
        return f"{name} (ρ = {float(data['imbalance']):g})"
    if kind == "noisy":
        noise = _NOISE_NAMES.get(str(data.get("noise")), str(data.get("noise")))
        return f"{name} ({noise} {100 * float(data['noise_rate']):g} %)"
    return name


@dataclass(frozen=True)
class TableSpec:
    """One paper table: data set rows as columns, method rows in (possibly named) groups."""

    name: str
    datasets: list[str]
    groups: list[tuple[str, list[str]]]
    metric: str = "balanced_accuracy"
    extra: tuple[str, ...] = ()
    caption: str | None = None
    label: str | None = None
    reference: str | None = None
    display: dict[str, str] = field(default_factory=dict)  # row-name overrides for this table

    @property
    def methods(self) -> list[str]:
        return [m for _, rows in self.groups for m in rows]


@dataclass
class Layout:
    """Rows in suite order with display names, each data set row's config, and the tables."""

    suite: str
    datasets: dict[str, dict[str, Any]]  # row -> {"display": str | None, "config": {...}}
    methods: dict[str, dict[str, Any]]  # row -> {"display": str | None, "method": registry id}
    tables: list[TableSpec] | None = None  # None: one per protocol (default_tables)
    claims: list[dict[str, Any]] | None = None  # the suite's claims: section (report.claim_specs); None: the paper's
    tuning: dict[str, Any] = field(default_factory=dict)  # {"trials": N, "metric": ...} of the suite

    def method_names(self) -> dict[str, str]:
        """One name per row, unique across the suite: declared names first, then the others in suite
        order; a row whose method's name is already taken shows its own row name."""
        taken = {info["display"]: row for row, info in self.methods.items()
                 if info.get("declared") and info.get("display")}
        names = {row: shown for shown, row in taken.items()}
        for row, info in self.methods.items():
            if row not in names:
                shown = info.get("display") or row
                shown = row if shown in taken else shown
                taken[shown], names[row] = row, shown
        return names

    def method_name(self, row: str) -> str:
        return self.method_names().get(row, row)

    def method_of(self, row: str) -> str:
        """The registry method of ``row`` (a row that names none runs the method of its own name)."""
        return str(self.methods.get(row, {}).get("method") or row)

    def row_of(self, method: str, rows: list[str] | None = None) -> str | None:
        """The first row (of ``rows``, else of the suite) that runs ``method``, if any."""
        return next((r for r in (self.methods if rows is None else rows) if self.method_of(r) == method), None)

    def base_of(self, row: str) -> str | None:
        """The row whose method is the base X of this ``lpg+X`` row, if the suite has one."""
        method = self.method_of(row)
        _, plus, base = method.partition("+")  # only a plug-in composes (catalog.method_parts)
        if not plus:
            return None
        return self.row_of(base)

    def dataset_name(self, row: str) -> str:
        info = self.datasets.get(row, {})
        if info.get("display_full"):
            return str(info["display_full"])
        return qualified(info.get("display") or row, info.get("config") or {})

    def protocol(self, row: str) -> str:
        return protocol(self.datasets.get(row, {}).get("config") or {})

    def default_tables(self, metric: str, present: set[tuple[str, str]]) -> list[TableSpec]:
        """One table per protocol with rows, in suite order; non-LPG methods, a rule, then LPG."""
        tables = []
        for kind in PROTOCOLS:
            rows = [d for d in self.datasets if self.protocol(d) == kind and any(c[0] == d for c in present)]
            methods = [m for m in self.methods if any((d, m) in present for d in rows)]
            if not rows or not methods:
                continue
            lpg = [m for m in methods if method_family(self.method_of(m)) == PROPOSED]
            groups = [("", [m for m in methods if m not in lpg]), ("", lpg)]
            extra = {"long-tail": ("shots",), "noisy": ("peak",)}.get(kind, ())
            reference = self.row_of(REFERENCE, methods) or methods[0]
            tables.append(TableSpec(kind, rows, [g for g in groups if g[1]], metric, extra,
                                    reference=reference))
        return tables

    def to_dict(self) -> dict[str, Any]:
        tables = None if self.tables is None else [
            {"name": t.name, "datasets": t.datasets, "groups": [[g, rows] for g, rows in t.groups],
             "metric": t.metric, "extra": list(t.extra), "caption": t.caption, "label": t.label,
             "reference": t.reference, "display": t.display} for t in self.tables]
        return {"suite": self.suite, "datasets": self.datasets, "methods": self.methods, "tables": tables,
                "claims": self.claims, "tuning": self.tuning}


def method_family(method: str) -> str:
    """The declared family of ``method`` (every LPG variant and plug-in: ``lpg``); an undeclared name is its own."""
    try:
        return catalog.method_family(method)
    except UserError:
        return method


def proposed(method: str) -> bool:
    """Whether ``method`` is a learned variant of the method the suite reproduces (not a hand-set intervention)."""
    try:
        return catalog.method_family(method) == PROPOSED and not catalog.method_intervention(method)
    except UserError:
        return False


def intervention(method: str) -> bool:
    """Whether ``method`` is a hand-set intervention (``lpg_fixed``, ``lpg_fixed+X``); an undeclared name is not."""
    try:
        return catalog.method_intervention(method)
    except UserError:
        return False


def layout_from_dict(data: dict[str, Any]) -> Layout:
    """The inverse of :meth:`Layout.to_dict` (and the shape ``bench.layout.suite_spec`` returns)."""
    tables = data.get("tables")
    specs = None if tables is None else [
        TableSpec(t["name"], list(t["datasets"]), [(g, list(rows)) for g, rows in t["groups"]],
                  t.get("metric") or "balanced_accuracy", tuple(t.get("extra") or ()), t.get("caption"),
                  t.get("label"), t.get("reference"), dict(t.get("display") or {})) for t in tables]
    return Layout(str(data.get("suite") or ""), {k: dict(v) for k, v in data.get("datasets", {}).items()},
                  {k: dict(v) for k, v in data.get("methods", {}).items()}, specs, data.get("claims"),
                  dict(data.get("tuning") or {}))
