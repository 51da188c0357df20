"""Run configuration: defaults, ``--set key=value`` overrides, validation and resolution."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from typing import Any

from lpg_meta import catalog
from lpg_meta.errors import UserError, closest
from lpg_meta.params import Param, defaults_of, drop_omitted, not_identity, resolve_params
from lpg_meta.yaml_loader import load_value

# The optimiser's settings, declared as the entries' are (lpg_meta/params.py).
OPTIM_PARAMS: dict[str, Param] = {
    "lr": Param(0.1, low=0.0, low_open=True),
    "momentum": Param(0.9, low=0.0, high=1.0, high_open=True),
    "nesterov": Param(False),
    "weight_decay": Param(5e-4, low=0.0),
    "schedule": Param("cosine", choices=("cosine", "multistep", "constant")),
    "warmup_epochs": Param(0, low=0),
    "milestones": Param([], help='epochs at which "multistep" multiplies the rate by lr_decay'),
    "lr_decay": Param(0.1, low=0.0),
}
AMP_MODES = ("none", "bf16")
# The run's settings. Those added after runs were recorded are ``when_set`` (left out of a config
# while at their default, so earlier configs and their hashes, which key finished work in
# ``lpg-meta run``, stay exactly what they were); those that only say how a run is watched or kept
# are ``never`` (not part of a run's identity: a resumed run equals an uninterrupted one bit for bit,
# tests/train/test_checkpoint_kill.py; live logging only reads what a run computed,
# tests/train/test_loggers.py). Readers of a left-out setting use ``train_setting``.
TRAIN_PARAMS: dict[str, Param] = {
    "epochs": Param(30, low=1),
    "batch_size": Param(128, low=1),
    "eval_batch_size": Param(1024, low=1),
    "device": Param("auto", help="auto, cpu, cuda or cuda:N"),
    "threads": Param(0, low=0, help="torch CPU threads; 0 keeps torch's default"),
    "progress": Param("auto", choices=("auto", "bar", "log", "none"), identity="never",
                      help="auto: a bar on a terminal, log lines otherwise"),
    "amp": Param("none", choices=AMP_MODES, identity="when_set", help="bf16: autocast of the forward passes"),
    "channels_last": Param(None, identity="when_set", help="null: on for conv nets on CUDA; true / false forces it"),
    "num_workers": Param(0, low=0, identity="when_set", help="0: batches built in-process; N: a DataLoader"),
    "max_steps_per_epoch": Param(0, low=0, identity="when_set", help="0: whole epochs; N: stop each epoch after N"),
    # Checkpoints (in the run folder): one every N epochs (0: none), and one inside an epoch once
    # this many minutes passed since the last (0: never), each skipped while writing would take more
    # than checkpoint_budget of the time (null: never skipped); removed when the run finishes unless
    # keep_checkpoints.
    "checkpoint_every": Param(1, low=0, identity="never"),
    "checkpoint_minutes": Param(10.0, low=0.0, identity="never"),
    "checkpoint_budget": Param(0.02, low=0.0, low_open=True, identity="never", help="null: never skipped"),
    "keep_checkpoints": Param(False, identity="never"),
    "save_model": Param(False, identity="never", help="keep the initial and final weights"),
    "pac_bayes": Param(False, identity="when_set", help="a PAC-Bayes bound after the last epoch"),
    # Live metrics (lpg_meta/train/loggers.py): loggers, e.g. [tensorboard, mlflow], the folder of
    # their files, and an MLflow tracking URI.
    "log": Param([], identity="never"),
    "log_dir": Param(None, identity="never"),
    "mlflow_uri": Param(None, identity="never"),
}
OPTIM_DEFAULTS: dict[str, Any] = defaults_of(OPTIM_PARAMS)
TRAIN_DEFAULTS: dict[str, Any] = defaults_of(TRAIN_PARAMS)

TOP_LEVEL = ("dataset", "method", "model", "seed")
SECTIONS = ("data", "model_params", "method_params", "optim", "train")
SECTION_ALIASES = {"model": "model_params", "method": "method_params"}
SHOWN = {"data": "data", "model_params": "model", "method_params": "method", "optim": "optim", "train": "train"}


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
        The resolved configuration; running it again gives the same run. Settings whose identity
        is not ``always`` are left out while at their default (``params.IDENTITIES``).
    """
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
    model = raw.get("model") or catalog.source(dataset).default_model
    cfg: dict[str, Any] = {"dataset": dataset, "method": method, "model": model, "seed": seed}
    declared = section_params(cfg)
    for section, shown in (("data", "data"), ("model_params", "model"), ("method_params", "method"),
                           ("optim", "optim"), ("train", "train")):
        cfg[section] = resolve_params(declared[section], raw.get(section, {}), shown)
    _check_rules(cfg)
    catalog.check_method_rules(method, cfg["method_params"])
    catalog.check_meta_split(method, cfg["data"]["meta_per_class"])
    for section, params in declared.items():
        drop_omitted(cfg[section], params)
    return cfg


def section_params(cfg: Mapping[str, Any]) -> dict[str, Mapping[str, Param]]:
    """The declared settings of each section of a config of ``cfg``'s dataset, model and method."""
    return {"data": catalog.source(cfg["dataset"]).params, "model_params": catalog.model(cfg["model"]).params,
            "method_params": catalog.method_params(cfg["method"]), "optim": OPTIM_PARAMS, "train": TRAIN_PARAMS}


def identity(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """``cfg`` without the settings that are never part of a run's identity (what ``config_hash`` keys).

    A config of an entry no longer declared keeps its sections whole, except ``train``'s.
    """
    try:
        declared: Mapping[str, Mapping[str, Param]] = section_params(cfg)
    except (UserError, KeyError):
        declared = {"train": TRAIN_PARAMS}
    return {**cfg, **{s: {k: v for k, v in cfg[s].items() if k not in not_identity(params)}
                      for s, params in declared.items() if isinstance(cfg.get(s), Mapping)}}


def differing_settings(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """``section.key: OLD -> NEW`` for each identity setting in which two configs differ (a key absent
    from one shows as ``(unset)``, a setting left out at its default)."""
    def flat(cfg: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in identity(cfg).items():
            if key in SECTIONS and isinstance(value, Mapping):
                out.update({f"{SHOWN[key]}.{k}": v for k, v in value.items()})
            else:
                out[key] = value
        return out

    a, b = flat(old), flat(new)
    return [f"{k}: {_shown(a, k)} -> {_shown(b, k)}" for k in sorted(set(a) | set(b)) if a.get(k, a) != b.get(k, b)]


def _shown(flat: Mapping[str, Any], key: str) -> str:
    return repr(flat[key]) if key in flat else "(unset)"


def train_setting(train: Mapping[str, Any], key: str) -> Any:
    """``train[key]``, or its default for a setting left out of a config while at its default."""
    return train.get(key, TRAIN_PARAMS[key].default if key in TRAIN_PARAMS else None)


def check_device_name(device: Any) -> None:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N``; whether that GPU exists is checked where the run starts."""
    if not isinstance(device, str) or not re.fullmatch(r"auto|cpu|cuda(:\d+)?", device):
        raise UserError(f"train.device must be auto, cpu, cuda or cuda:N (a GPU's index, e.g. cuda:1), "
                        f"got {device!r}.")


def _check_rules(cfg: dict[str, Any]) -> None:
    """The rules the declared ranges cannot say: across settings, and values of several types."""
    optim, train = cfg["optim"], cfg["train"]
    if optim["nesterov"] and optim["momentum"] == 0:
        raise UserError("optim.nesterov needs optim.momentum > 0.")
    check_device_name(train["device"])
    if train["channels_last"] is not None and not isinstance(train["channels_last"], bool):
        raise UserError(f"train.channels_last must be true, false or null (auto), got {train['channels_last']!r}.")
    from lpg_meta.train.loggers import check_live_settings

    check_live_settings(train)
