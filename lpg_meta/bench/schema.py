"""Suite files: a strict YAML loader and the validated ``Suite`` it produces.

Every mistake is a ``UserError`` that names the key path (``methods.lpg.tune.eps``) and the
fix, so a typo fails on load and never after hours of training.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lpg_meta import catalog
from lpg_meta.bench.seeds import DEFAULT_TUNING_SEED, SeedRule, parse_extra_seeds, parse_seeds, parse_tuning_seeds
from lpg_meta.bench.space import parse_space
from lpg_meta.bench.suite_files import find_suite
from lpg_meta.catalog.data import check_data_settings
from lpg_meta.config import OPTIM_PARAMS, TRAIN_PARAMS
from lpg_meta.errors import UserError, closest
from lpg_meta.params import resolve_params
from lpg_meta.registry import DATASETS, MODELS
from lpg_meta.report.claim_specs import parse_claims
from lpg_meta.results import METRIC_DIRECTIONS
from lpg_meta.yaml_loader import StrictLoader

TOP_KEYS = ("suite", "description", "defaults", "datasets", "methods", "matrix", "seeds",
            "extra_seeds", "tuning", "storage", "output", "tables", "claims")
DEFAULT_KEYS = ("data", "model", "model_params", "method_params", "optim", "train")
DATASET_SHORTCUTS = ("imbalance", "noise", "noise_rate", "meta_per_class", "val_per_class")
DATASET_KEYS = ("source", "model", *DATASET_SHORTCUTS, "data", "model_params", "optim", "train")
METHOD_KEYS = ("method", "params", "tune", "model_params", "display")
MATRIX_KEYS = ("datasets", "methods", "exclude")
TUNING_KEYS = ("trials", "seeds", "last_epochs", "margin", "sampler_seed", "pruner", "metric", "direction")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")  # row names become folder names


@dataclass(frozen=True)
class DatasetRow:
    """One ``datasets`` row: a registered source and its run-config sections."""

    name: str
    source: str
    model: str | None
    sections: dict[str, dict[str, Any]]  # data, model_params, optim, train


@dataclass(frozen=True)
class MethodRow:
    """One ``methods`` row; ``tune`` None means the method's declared search space."""

    name: str
    method: str
    params: dict[str, Any]
    tune: dict[str, tuple] | None
    # Model settings the method needs on every row (ldam's cosine head); checked per cell.
    model_params: dict[str, Any] = field(default_factory=dict)
    # The row's name in tables and legends (None: its method's display_name); not part of a run's config.
    display: str | None = None


@dataclass(frozen=True)
class Tuning:
    """How each cell is tuned (Optuna) and how its trials are told apart (``bench.selection``).

    Trials train on ``seeds``, which no evaluation seed uses; a trial's score averages the
    validation metric over them and their ``last_epochs`` epochs, and a later trial wins only by
    more than ``margin`` validation images.
    """

    trials: int = 20
    seeds: tuple[int, ...] = (DEFAULT_TUNING_SEED,)
    last_epochs: int = 3
    margin: float = 1.0
    sampler_seed: int = 0
    pruner: str = "median"
    metric: str = "balanced_accuracy"
    direction: str = "maximize"


@dataclass(frozen=True)
class Suite:
    """A validated suite file."""

    name: str
    path: Path
    defaults: dict[str, Any]
    datasets: dict[str, DatasetRow]
    methods: dict[str, MethodRow]
    matrix: list[tuple[str, str]]
    seeds: list[int]
    tuning: Tuning = field(default_factory=Tuning)
    storage: str | None = None
    output: Path = Path("results")
    extra_seeds: dict[str, list[int]] = field(default_factory=dict)  # cell name -> seeds after ``seeds``
    seed_rule: SeedRule | None = None  # the power rule that gave ``seeds``, if the suite used one
    tables: list[dict[str, Any]] | None = None  # the ``tables:`` section, checked (see _tables)
    claims: list[dict[str, Any]] | None = None  # the ``claims:`` section, checked (report.claim_specs)
    overrides: dict[str, Any] = field(default_factory=dict)  # `run --set`: every cell's last layer (overrides.py)

    def cell_seeds(self, cell: str) -> list[int]:
        """The seeds of cell ``dataset/method``: the suite's, then its ``extra_seeds``."""
        return self.seeds + self.extra_seeds.get(cell, [])


def load_suite(path: str | Path) -> Suite:
    """Read and validate a suite file; raise ``UserError`` naming the file and key path."""
    path = find_suite(path)  # a path, or a shipped suite's name (`lpg-meta run smoke`)
    try:
        text = path.read_text()
    except OSError as err:
        raise UserError(f"cannot read suite file {path}: {err.strerror}; check the path "
                        "(or name a shipped suite: `lpg-meta run --help`).") from None
    try:
        return parse_suite(text, path)
    except UserError as err:
        raise UserError(f"{path}: {err}") from None


def parse_suite(text: str, path: Path = Path("<suite>")) -> Suite:
    """Validate suite YAML ``text`` (``path`` only names it)."""
    data = _mapping(_load(text), "the file", "suite: NAME, datasets: {...}, methods: {...}")
    _keys(data, TOP_KEYS, "")
    if "suite" not in data:
        raise UserError("suite: missing; name the suite, e.g. 'suite: smoke'.")
    name = _name(data["suite"], "suite")
    defaults = _defaults(data.get("defaults"))
    datasets = _rows(data, "datasets", lambda name, row: _dataset_row(name, row, defaults.get("data", {})))
    methods = _rows(data, "methods", _method_row)
    _unique_displays(methods)
    matrix = _matrix(data.get("matrix"), datasets, methods)
    seeds, rule = parse_seeds(data.get("seeds", [0]))
    extra = parse_extra_seeds(data.get("extra_seeds"), [f"{d}/{m}" for d, m in matrix], seeds)
    used = set(seeds).union(*extra.values())
    return Suite(
        name=name, path=path, defaults=defaults, datasets=datasets, methods=methods,
        matrix=matrix, seeds=seeds, extra_seeds=extra, seed_rule=rule,
        tuning=_tuning(data.get("tuning"), used),
        storage=_optional_str(data.get("storage"), "storage"),
        output=Path(_optional_str(data.get("output"), "output") or f"results/{name}"),
        tables=_tables(data.get("tables"), datasets, methods),
        claims=parse_claims(data.get("claims"), list(datasets), list(methods)),
    )


def _unique_displays(methods: dict[str, MethodRow]) -> None:
    seen: dict[str, str] = {}
    for name, row in methods.items():
        if row.display is None:
            continue
        if row.display in seen:
            raise UserError(f"methods.{name}.display: '{row.display}' is already the display name of "
                            f"methods.{seen[row.display]}; give each row its own.")
        seen[row.display] = name


def _load(text: str) -> Any:
    """Parse suite YAML strictly (``yaml_loader.StrictLoader``); a syntax error is told in one line."""
    try:
        return yaml.load(text, Loader=StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = " ".join(str(err.problem or err.context or "syntax error").split())
        if err.problem and err.context and err.context_mark:  # e.g. an unclosed [ and where it opened
            problem += f" ({err.context} opened at line {err.context_mark.line + 1})"
        raise UserError(f"invalid YAML{where}: {problem}; fix the syntax there "
                        "(quote a value that holds ': ' or ' #').") from None
    except yaml.YAMLError as err:
        raise UserError(f"invalid YAML: {' '.join(str(err).split())}.") from None


def _mapping(value: Any, where: str, example: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UserError(f"{where} must be a mapping, got {type(value).__name__} {value!r}; e.g. {example}.")
    return value


def _keys(mapping: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in mapping:
        if key not in allowed:
            shown = f"{where}.{key}" if where else str(key)
            raise UserError(f"{shown}: unknown key.{closest(str(key), allowed)} Allowed: {', '.join(allowed)}.")


def _name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise UserError(f"{where}: {value!r} is not a valid name; use letters, digits and _ . + - "
                        "(it becomes a folder name).")
    return value


def _integer(value: Any, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UserError(f"{where} must be an integer >= {minimum}, got {value!r}.")
    return value


def _optional_str(value: Any, where: str) -> str | None:
    if value is not None and (not isinstance(value, str) or not value):
        raise UserError(f"{where} must be a non-empty string (a path or URL), got {value!r}.")
    return value


def _section(value: Any, where: str) -> dict[str, Any]:
    return dict(_mapping(value, where, "{lr: 0.05}"))


def _defaults(value: Any) -> dict[str, Any]:
    value = _mapping(value, "defaults", "{train: {epochs: 10}}")
    _keys(value, DEFAULT_KEYS, "defaults")
    out: dict[str, Any] = {k: _section(value[k], f"defaults.{k}") for k in DEFAULT_KEYS
                           if k != "model" and k in value}
    if "model" in value:
        out["model"] = _model(value["model"], "defaults.model")
    # Optim and train settings are the same for every row: check them here, with their path.
    for key, table in (("optim", OPTIM_PARAMS), ("train", TRAIN_PARAMS)):
        resolve_params(table, out.get(key, {}), f"defaults.{key}")
    return out


def _model(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise UserError(f"{where} must be a model name, got {value!r}.")
    try:
        MODELS.declaration(value)
    except UserError as err:
        raise UserError(f"{where}: {err}") from None
    return value


def _rows(data: dict[str, Any], key: str, parse: Any) -> dict[str, Any]:
    rows = _mapping(data.get(key), key, "{lt: {source: mnist1d, imbalance: 100}}")
    if not rows:
        raise UserError(f"{key}: no rows; add at least one named row.")
    return {_name(name, f"{key}.{name}"): parse(name, row) for name, row in rows.items()}


def _dataset_row(name: str, row: Any, suite_data: dict[str, Any]) -> DatasetRow:
    """One ``datasets`` row; ``suite_data`` is ``defaults.data``, which the row's settings go over."""
    where = f"datasets.{name}"
    row = _mapping(row, where, "{source: mnist1d, imbalance: 100}")
    _keys(row, DATASET_KEYS, where)
    source = row.get("source", name)
    if not isinstance(source, str) or source not in DATASETS:
        hint = "" if "source" in row else " (source defaults to the row name)"
        raise UserError(f"{where}.source: unknown dataset {source!r}{hint}.{closest(str(source), DATASETS)} "
                        f"Known: {', '.join(DATASETS.names())}.")
    sections = {k: _section(row.get(k), f"{where}.{k}") for k in ("data", "model_params", "optim", "train")}
    data = sections["data"]
    in_section = set(data)  # written under data:, before the shortcuts join them
    for key in DATASET_SHORTCUTS:
        if key in row:
            if key in data:
                raise UserError(f"{where}.{key} is also set as {where}.data.{key}; keep one.")
            # Type-check the shortcut on its own, so the message names the key as written.
            resolve_params(catalog.source(source).params, {key: row[key]}, where)
            data[key] = row[key]
    # The data checks see what the cell will run: the row over defaults.data (whose settings
    # of other sources are left to the cells), so a rule across two settings holds for the
    # pair that runs.
    settings = catalog.source(source).params
    suite_own = {k: v for k, v in suite_data.items() if k in settings}
    resolve_params(settings, suite_own, "defaults.data")

    def field(key: str) -> str:
        """Where ``key``'s value was written, or else where the row would set it."""
        if key in suite_own and key not in data:
            return f"defaults.data.{key}"
        return f"{where}.{key}" if key in DATASET_SHORTCUTS and key not in in_section else f"{where}.data.{key}"

    check_data_settings(resolve_params(settings, {**suite_own, **data}, f"{where}.data"), field)
    for key, table in (("optim", OPTIM_PARAMS), ("train", TRAIN_PARAMS)):
        resolve_params(table, sections[key], f"{where}.{key}")
    model = _model(row["model"], f"{where}.model") if "model" in row else None
    return DatasetRow(name=name, source=source, model=model, sections=sections)


def _method_row(name: str, row: Any) -> MethodRow:
    where = f"methods.{name}"
    row = _mapping(row, where, "{method: lpg, params: {eps: 0.5}}")
    _keys(row, METHOD_KEYS, where)
    method = row.get("method", name)
    if not isinstance(method, str):
        raise UserError(f"{where}.method must be a method name, got {method!r}.")
    try:
        declared = catalog.method_params(method)
    except UserError as err:
        hint = "" if "method" in row else " (method defaults to the row name; set methods.NAME.method)"
        raise UserError(f"{where}.method: {err}{hint}") from None
    params = resolve_params(declared, _section(row.get("params"), f"{where}.params"), f"{where}.params")
    params = {k: params[k] for k in row.get("params") or {}}  # keep only what the row sets
    tune = row.get("tune")
    if tune is None or tune is True:
        parse_space(catalog.method_search_space(method), f"{where}.tune (declared by '{method}')", declared)
        space = None
    elif tune is False:
        space = {}
    else:
        space = parse_space(_mapping(tune, f"{where}.tune", "{eps: [float, 0.0, 0.9]}"),
                            f"{where}.tune", declared)
    model_params = _section(row.get("model_params"), f"{where}.model_params")
    display = row.get("display")
    if display is not None and (not isinstance(display, str) or not display.strip()):
        raise UserError(f"{where}.display must be a non-empty string (the row's name in tables), got {display!r}.")
    return MethodRow(name=name, method=method, params=params, tune=space, model_params=model_params,
                     display=display)


def _matrix(value: Any, datasets: dict[str, DatasetRow], methods: dict[str, MethodRow]) -> list[tuple[str, str]]:
    value = _mapping(value, "matrix", "{datasets: [lt], methods: [ce, lpg], exclude: [lt/ce]}")
    _keys(value, MATRIX_KEYS, "matrix")
    chosen = {}
    for key, rows in (("datasets", datasets), ("methods", methods)):
        names = value.get(key, list(rows))
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise UserError(f"matrix.{key} must be a list of {key} row names, got {names!r}.")
        for n in names:
            if n not in rows:
                raise UserError(f"matrix.{key}: no row named {n!r}.{closest(n, rows)} Rows: {', '.join(rows)}.")
        chosen[key] = list(dict.fromkeys(names))
    cells = [(d, m) for d in chosen["datasets"] for m in chosen["methods"]]
    exclude = value.get("exclude", [])
    if not isinstance(exclude, list):
        raise UserError("matrix.exclude must be a list of 'dataset/method' patterns or [dataset, method] pairs.")
    for i, item in enumerate(exclude):
        if isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item):
            item = f"{item[0]}/{item[1]}"
        if not isinstance(item, str) or item.count("/") != 1:
            raise UserError(f"matrix.exclude[{i}]: write 'dataset/method' (globs allowed) or [dataset, method], "
                            f"got {item!r}.")
        names = [f"{d}/{m}" for d, m in cells]
        hit = [n for n in names if fnmatch.fnmatchcase(n, item)]
        if not hit:
            raise UserError(f"matrix.exclude[{i}]: {item!r} matches no cell.{closest(item, names)}")
        cells = [(d, m) for d, m in cells if f"{d}/{m}" not in hit]
    if not cells:
        raise UserError("matrix: no cell is left; check matrix.datasets, matrix.methods and matrix.exclude.")
    return cells


def _tuning(value: Any, used: set[int]) -> Tuning:
    """The ``tuning`` section; ``used`` holds every evaluation seed (a tuning seed must be none of them)."""
    value = _mapping(value, "tuning", "{trials: 20, metric: balanced_accuracy}")
    _keys(value, TUNING_KEYS, "tuning")
    trials = _integer(value.get("trials", Tuning.trials), "tuning.trials", 0)
    seeds = parse_tuning_seeds(value.get("seeds"), used)
    last_epochs = _integer(value.get("last_epochs", Tuning.last_epochs), "tuning.last_epochs", 1)
    margin = value.get("margin", Tuning.margin)
    if isinstance(margin, bool) or not isinstance(margin, int | float) or not 0 <= margin < float("inf"):
        raise UserError(f"tuning.margin must be a number of validation images >= 0, got {margin!r}.")
    sampler_seed = _integer(value.get("sampler_seed", Tuning.sampler_seed), "tuning.sampler_seed", 0)
    pruner = value.get("pruner", Tuning.pruner)
    if pruner not in ("median", "none"):
        raise UserError(f"tuning.pruner must be median or none, got {pruner!r}.")
    metric = value.get("metric", Tuning.metric)
    if metric not in METRIC_DIRECTIONS:
        hint = closest(str(metric), METRIC_DIRECTIONS)
        raise UserError(f"tuning.metric: unknown validation metric {metric!r}.{hint} "
                        f"Known: {', '.join(METRIC_DIRECTIONS)}.")
    direction = value.get("direction", METRIC_DIRECTIONS[metric])
    if direction not in ("maximize", "minimize"):
        raise UserError(f"tuning.direction must be maximize or minimize, got {direction!r}.")
    if direction != METRIC_DIRECTIONS[metric]:
        raise UserError(f"tuning.direction: {metric} should be {METRIC_DIRECTIONS[metric]}d, not {direction}d; "
                        f"set direction: {METRIC_DIRECTIONS[metric]} or leave it out.")
    return Tuning(trials=trials, seeds=seeds, last_epochs=last_epochs, margin=float(margin),
                  sampler_seed=sampler_seed, pruner=pruner, metric=metric, direction=direction)


TABLE_KEYS = ("datasets", "methods", "metric", "extra", "caption", "label", "reference")
TABLE_EXTRAS = ("shots", "peak")


def _named_rows(value: Any, where: str, rows: dict[str, Any], display: dict[str, str]) -> list[str]:
    """A list of row names, each a name or ``{name: display name}``; overrides go into ``display``."""
    if not isinstance(value, list) or not value:
        raise UserError(f"{where} must be a non-empty list of row names (a name or {{name: 'Display name'}}), "
                        f"got {value!r}.")
    names = []
    for i, item in enumerate(value):
        if isinstance(item, dict) and len(item) == 1:
            (item, shown), = item.items()
            if not isinstance(shown, str) or not shown:
                raise UserError(f"{where}[{i}]: the display name of {item!r} must be a non-empty string.")
            display[str(item)] = shown
        if not isinstance(item, str) or item not in rows:
            raise UserError(f"{where}[{i}]: no row named {item!r}.{closest(str(item), rows)} Rows: {', '.join(rows)}.")
        names.append(item)
    if len(set(names)) != len(names):
        raise UserError(f"{where}: {names} lists a row twice; list each once.")
    return names


def _tables(value: Any, datasets: dict[str, DatasetRow], methods: dict[str, MethodRow]) -> list[dict[str, Any]] | None:
    """The ``tables:`` section: one paper table per entry (plain data for ``report.layout``)."""
    if value is None:
        return None
    value = _mapping(value, "tables", "{longtail: {datasets: [lt], methods: [ce, lpg]}}")
    tables = []
    for name, table in value.items():
        where = f"tables.{_name(name, 'tables')}"
        table = _mapping(table, where, "{datasets: [lt], methods: {Baselines: [ce], LPG: [lpg]}}")
        _keys(table, TABLE_KEYS, where)
        display: dict[str, str] = {}
        rows = _named_rows(table.get("datasets"), f"{where}.datasets", datasets, display)
        given = table.get("methods")
        groups = given.items() if isinstance(given, dict) else [("", given)]
        grouped = [(str(g), _named_rows(m, f"{where}.methods{'.' + str(g) if g else ''}", methods, display))
                   for g, m in groups]
        listed = [m for _, ms in grouped for m in ms]
        if len(set(listed)) != len(listed):
            raise UserError(f"{where}.methods: a method appears in two groups; list each once.")
        metric = table.get("metric", "balanced_accuracy")
        if metric not in METRIC_DIRECTIONS:
            raise UserError(f"{where}.metric: unknown metric {metric!r}.{closest(str(metric), METRIC_DIRECTIONS)} "
                            f"Known: {', '.join(METRIC_DIRECTIONS)}.")
        extra = table.get("extra", [])
        if not isinstance(extra, list) or any(e not in TABLE_EXTRAS for e in extra):
            raise UserError(f"{where}.extra must be a list of {' and '.join(TABLE_EXTRAS)} (many/medium/few "
                            f"columns on long-tail rows, the peak on noisy rows), got {extra!r}.")
        reference = table.get("reference")
        if reference is not None and reference not in listed:
            raise UserError(f"{where}.reference: {reference!r} is not one of the table's methods "
                            f"({', '.join(listed)}).")
        texts = {k: _optional_str(table.get(k), f"{where}.{k}") for k in ("caption", "label")}
        tables.append({"name": name, "datasets": rows, "groups": [[g, ms] for g, ms in grouped], "metric": metric,
                       "extra": list(extra), "reference": reference, "display": display, **texts})
    return tables
