"""Run configuration: defaults, ``--set key=value`` overrides, validation and resolution."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from typing import Any

from lpg_meta.errors import UserError, closest
from lpg_meta.params import resolve_params
from lpg_meta.yaml_loader import load_value

OPTIM_DEFAULTS: dict[str, Any] = {
    "lr": 0.1,
    "momentum": 0.9,
    "nesterov": False,
    "weight_decay": 5e-4,
    "schedule": "cosine",  # "cosine", "multistep" or "constant"
    "warmup_epochs": 0,
    "milestones": [],  # epochs at which "multistep" multiplies the rate by lr_decay
    "lr_decay": 0.1,
}

# Accelerator settings added after runs were recorded: ``resolve_config`` leaves them out of a
# config while they hold their default, so earlier configs (and their hashes, which key finished
# work in ``lpg-meta run``) stay exactly what they were. Readers use ``train_setting``.
OPTIONAL_TRAIN_DEFAULTS: dict[str, Any] = {
    "amp": "none",  # "none" (float32) or "bf16" (autocast of the forward passes)
    "channels_last": None,  # None = on for conv nets on CUDA, off elsewhere; true / false forces it
    "num_workers": 0,  # 0: batches built in-process (as before); N > 0: a DataLoader, N workers
    "max_steps_per_epoch": 0,  # 0: whole epochs; N > 0: stop each epoch after N steps (smoke tests)
    # Checkpoints (in the run folder; not part of a run's identity, results.NOT_IDENTITY): one
    # every N epochs (0: none), and one inside an epoch once this many minutes passed since the
    # last (0: never), each skipped while writing would take more than checkpoint_budget of the
    # time (null: never skipped); removed when the run finishes unless keep_checkpoints.
    "checkpoint_every": 1,
    "checkpoint_minutes": 10.0,
    "checkpoint_budget": 0.02,
    "keep_checkpoints": False,
    "save_model": False,  # keep the initial and final weights (model_init.pt, model.pt)
    "pac_bayes": False,  # a PAC-Bayes bound after the last epoch (lpg_meta/train/pac_bayes.py)
    # Live metrics (lpg_meta/train/loggers.py; not part of a run's identity): loggers, e.g.
    # [tensorboard, mlflow], the folder of their files, and an MLflow tracking URI.
    "log": [],
    "log_dir": None,
    "mlflow_uri": None,
}
AMP_MODES = ("none", "bf16")

TRAIN_DEFAULTS: dict[str, Any] = {
    "epochs": 30,
    "batch_size": 128,
    "eval_batch_size": 1024,
    "device": "auto",  # "auto", "cpu", "cuda" or "cuda:N"
    "threads": 0,  # torch CPU threads; 0 keeps torch's default
    "progress": "auto",  # "auto" (bar on a terminal, log lines otherwise), "bar", "log" or "none"
    **OPTIONAL_TRAIN_DEFAULTS,
}

TOP_LEVEL = ("dataset", "method", "model", "seed")
SECTIONS = ("data", "model_params", "method_params", "optim", "train")
SECTION_ALIASES = {"model": "model_params", "method": "method_params"}


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """Turn ``["optim.lr=0.05", "method.eps=0.5"]`` into a nested override mapping."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UserError(f"--set expects key=value, got '{item}' (e.g. --set optim.lr=0.05).")
        value = load_value(raw)  # 0.1 and 1e-3 -> float, true -> bool, [1, 2] -> list
        if "." not in key:
            if key not in TOP_LEVEL:
                known = ", ".join(TOP_LEVEL)
                raise UserError(f"unknown setting '{key}'.{closest(key, TOP_LEVEL)} Top-level keys: {known}; "
                                "others are section.name.")
            out[key] = value
            continue
        section, _, name = key.partition(".")
        section = SECTION_ALIASES.get(section, section)
        if section not in SECTIONS:
            shown = ("data", "model", "method", "optim", "train")
            raise UserError(f"unknown section in '{key}'.{closest(section, shown)} Sections: {', '.join(shown)}.")
        out.setdefault(section, {})[name] = value
    return out


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge one level of nesting: sections are merged key by key, other values replaced."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if key in SECTIONS and isinstance(value, Mapping):
            out[key] = {**out.get(key, {}), **value}
        else:
            out[key] = value
    return out


def resolve_config(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a run configuration and fill in every default.

    Args:
        raw: ``dataset``, ``method``, ``seed``, optional ``model`` and the sections
            ``data``, ``model_params``, ``method_params``, ``optim``, ``train`` (partial).

    Returns:
        The resolved configuration; running it again gives the same run.
    """
    # Imported here: the registries import torch-heavy modules.
    from lpg_meta.data import data_defaults
    from lpg_meta.methods import check_meta_split, method_classes, method_defaults
    from lpg_meta.models import MODELS, model_defaults

    unknown = set(raw) - set(TOP_LEVEL) - set(SECTIONS)
    if unknown:
        key = sorted(unknown)[0]
        raise UserError(f"unknown setting '{key}'.{closest(key, [*TOP_LEVEL, *SECTIONS])}")
    dataset = raw.get("dataset", "mnist1d")
    method = raw.get("method", "ce")
    seed = raw.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise UserError(f"seed must be a non-negative integer, got {seed!r}.")
    for key, value in (("dataset", dataset), ("method", method)):
        if not isinstance(value, str):
            raise UserError(f"{key} must be a name, got {value!r}.")
    data = resolve_params(data_defaults(dataset), raw.get("data", {}), "data")
    model = raw.get("model") or _default_model(dataset)
    cfg = {
        "dataset": dataset,
        "method": method,
        "model": model,
        "seed": seed,
        "data": data,
        "model_params": resolve_params(model_defaults(model), raw.get("model_params", {}), "model"),
        "method_params": resolve_params(method_defaults(method), raw.get("method_params", {}), "method"),
        "optim": resolve_params(OPTIM_DEFAULTS, raw.get("optim", {}), "optim"),
        "train": resolve_params(TRAIN_DEFAULTS, raw.get("train", {}), "train"),
    }
    _check_ranges(cfg)
    check_meta_split(method, data["meta_per_class"])
    drop_optional_defaults(cfg["train"], OPTIONAL_TRAIN_DEFAULTS)
    drop_optional_defaults(cfg["method_params"], _optional_of(method_classes(method)))
    drop_optional_defaults(cfg["model_params"], _optional_of([MODELS.get(model)]))
    return cfg


def _optional_of(classes: Any) -> dict[str, Any]:
    """The ``optional_defaults`` of registered classes (None entries skipped), merged."""
    out: dict[str, Any] = {}
    for cls in classes:
        out.update(getattr(cls, "optional_defaults", {}) if cls is not None else {})
    return out


def drop_optional_defaults(section: dict[str, Any], optional: Mapping[str, Any]) -> None:
    """Leave out of ``section`` the options added after runs were recorded, while at their default.

    A method or model lists such options in ``optional_defaults`` (also part of its
    ``defaults``): a config that does not set them keeps exactly its earlier form and hash.
    """
    for key, default in optional.items():
        if key in section and section[key] == default and type(section[key]) is type(default):
            del section[key]


def train_setting(train: Mapping[str, Any], key: str) -> Any:
    """``train[key]``, or its default for the optional accelerator settings left out of a config."""
    return train.get(key, OPTIONAL_TRAIN_DEFAULTS.get(key))


def _default_model(dataset: str) -> str:
    from lpg_meta.data import DATASETS

    return DATASETS.get(dataset).default_model


def check_device_name(device: Any) -> None:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N``; whether that GPU exists is checked where the run starts."""
    if not isinstance(device, str) or not re.fullmatch(r"auto|cpu|cuda(:\d+)?", device):
        raise UserError(f"train.device must be auto, cpu, cuda or cuda:N (a GPU's index, e.g. cuda:1), "
                        f"got {device!r}.")


def _check_ranges(cfg: dict[str, Any]) -> None:
    optim, train = cfg["optim"], cfg["train"]
    if optim["lr"] <= 0:
        raise UserError(f"optim.lr must be positive, got {optim['lr']}.")
    if optim["schedule"] not in ("cosine", "multistep", "constant"):
        raise UserError(f"optim.schedule must be cosine, multistep or constant, got '{optim['schedule']}'.")
    if not 0 <= optim["momentum"] < 1:
        raise UserError(f"optim.momentum must be in [0, 1), got {optim['momentum']}.")
    if optim["nesterov"] and optim["momentum"] == 0:
        raise UserError("optim.nesterov needs optim.momentum > 0.")
    for key in ("epochs", "batch_size", "eval_batch_size"):
        if train[key] < 1:
            raise UserError(f"train.{key} must be at least 1, got {train[key]}.")
    check_device_name(train["device"])
    if train["progress"] not in ("auto", "bar", "log", "none"):
        raise UserError(f"train.progress must be auto, bar, log or none, got '{train['progress']}'.")
    if train["amp"] not in AMP_MODES:
        raise UserError(f"train.amp must be none or bf16, got {train['amp']!r}.")
    if train["channels_last"] is not None and not isinstance(train["channels_last"], bool):
        raise UserError(f"train.channels_last must be true, false or null (auto), got {train['channels_last']!r}.")
    for key in ("num_workers", "max_steps_per_epoch", "checkpoint_every", "checkpoint_minutes"):
        if train[key] < 0:
            raise UserError(f"train.{key} must be >= 0, got {train[key]}.")
    from lpg_meta.train.loggers import check_live_settings

    check_live_settings(train)
    if train["checkpoint_budget"] is not None and not train["checkpoint_budget"] > 0:
        raise UserError(f"train.checkpoint_budget must be above 0 (a fraction of the run's time) or null, "
                        f"got {train['checkpoint_budget']}.")
