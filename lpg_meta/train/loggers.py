"""Live per-epoch metrics in the tools researchers watch: TensorBoard, MLflow, Weights & Biases.

Opt-in with ``train.log`` (``[tensorboard, mlflow]``, or ``wandb`` where it is installed). Each
epoch's ``history`` record (train loss, learning rate, validation and test accuracies) goes out
as it is made, with a meta-learned method's meta loss and LPG's per-class perturbation. The
settings are not part of a run's identity (``identity="never"`` in ``config.TRAIN_PARAMS``) and are
left out of the ``config`` a result records, so ``result.json`` is the same with logging on or off; a logger
only reads what the run computed, so nothing it does changes a number.

Where curves go: ``train.log_dir`` (default ``runs/live``) holds TensorBoard's event files
(``LOG_DIR/tensorboard/RUN``) and, unless ``train.mlflow_uri`` names a tracking server or
database, MLflow's local store (``sqlite:///LOG_DIR/mlflow.db``). RUN is
``DATASET/METHOD/seedN-HASH``, the config hash telling a cell's tuning trials apart.
"""

from __future__ import annotations

import os
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from lpg_meta.errors import UserError, closest

LIVE_SETTINGS = ("log", "log_dir", "mlflow_uri")  # train.* keys this module reads
DEFAULT_LOG_DIR = "runs/live"
MLFLOW_EXPERIMENT = "lpg-meta"
SINKS: dict[str, type[Sink]] = {}  # by train.log name


def sink(name: str) -> Callable[[type[Sink]], type[Sink]]:
    """Register a logger class under ``name`` (a ``train.log`` entry)."""

    def register(cls: type[Sink]) -> type[Sink]:
        SINKS[name] = cls
        return cls

    return register


class Sink(ABC):
    """One destination, made with ``(cfg, run name, log_dir)``: ``scalars`` per epoch, ``close`` at the end."""

    @abstractmethod
    def __init__(self, cfg: dict[str, Any], run: str, log_dir: Path) -> None: ...

    @abstractmethod
    def scalars(self, values: dict[str, float], step: int) -> None: ...

    @abstractmethod
    def close(self) -> None: ...


def logger_names(train: Mapping[str, Any]) -> list[str]:
    """``train.log``: the loggers' names (a list, as the config's type check keeps it)."""
    names = list(train.get("log") or [])
    if not all(isinstance(n, str) for n in names):
        raise UserError(f"train.log must be a list of logger names ({', '.join(SINKS)}), got {names!r}.")
    return names


def check_live_settings(train: Mapping[str, Any]) -> None:
    """UserError for an unknown logger or a malformed log_dir / mlflow_uri (before anything trains)."""
    for name in logger_names(train):
        if name not in SINKS:
            raise UserError(f"train.log: unknown logger '{name}'.{closest(name, SINKS)} "
                            f"Loggers: {', '.join(SINKS)}.")
    for key in ("log_dir", "mlflow_uri"):
        if train.get(key) is not None and not (isinstance(train[key], str) and train[key]):
            raise UserError(f"train.{key} must be a path or URI (a string), got {train[key]!r}.")


def without_live_settings(cfg: dict[str, Any]) -> dict[str, Any]:
    """``cfg`` without the logging settings: what a result records (the same with logging on or off)."""
    if not any(key in cfg["train"] for key in LIVE_SETTINGS):
        return cfg
    return {**cfg, "train": {k: v for k, v in cfg["train"].items() if k not in LIVE_SETTINGS}}


def tag(key: str) -> str:
    """A history key's name in the tools: ``val_accuracy`` -> ``val/accuracy``, ``lr`` -> ``train/lr``."""
    split, _, metric = key.partition("_")
    return f"{split}/{metric}" if split in ("train", "val", "test") and metric else f"train/{key}"


def method_scalars(record: Mapping[str, Any]) -> dict[str, float]:
    """The latest epoch's meta loss and per-class perturbation from a method's ``record()``."""
    out: dict[str, float] = {}
    for name, part in record.items():
        if not isinstance(part, Mapping):
            continue
        losses = part.get("meta_loss")
        if losses and losses[-1] is not None:
            out[f"{name}/meta_loss"] = float(losses[-1])
        trajectory = part.get("trajectory")
        if trajectory and isinstance(trajectory[-1], list):
            quantity = part.get("quantity", "perturbation")
            out.update({f"{name}/{quantity}/class_{c}": float(v) for c, v in enumerate(trajectory[-1])})
    return out


class LiveLog:
    """The run's loggers; ``epoch`` sends one epoch's metrics to each."""

    def __init__(self, sinks: list[Sink]) -> None:
        self.sinks = sinks

    def epoch(self, record: Mapping[str, Any], method_record: Callable[[], Mapping[str, Any]]) -> None:
        """Send ``record`` (a history entry) and the method's per-epoch values, at step ``record['epoch']``."""
        if not self.sinks:
            return
        values = {tag(k): float(v) for k, v in record.items() if k != "epoch" and isinstance(v, int | float)}
        values.update(method_scalars(method_record()))
        for out in list(self.sinks):
            try:
                out.scalars(values, int(record["epoch"]))
            except Exception as err:  # noqa: BLE001 - a watcher's failure never stops the run
                print(f"lpg-meta: warning: {type(out).__name__} stopped logging: {str(err).splitlines()[0]}; "
                      "training goes on.", file=sys.stderr, flush=True)
                self.sinks.remove(out)

    def close(self) -> None:
        for out in self.sinks:
            try:
                out.close()
            except Exception:  # noqa: BLE001 - the result is written regardless
                pass


def open_live_log(cfg: dict[str, Any]) -> LiveLog:
    """The loggers ``cfg['train']`` asks for, opened (a tracking server is reached here, before training)."""
    from lpg_meta.results import config_hash

    names = logger_names(cfg["train"])
    if not names:
        return LiveLog([])
    check_live_settings(cfg["train"])
    run = f"{cfg['dataset']}/{cfg['method']}/seed{cfg['seed']}-{config_hash(cfg)[:8]}"
    log_dir = Path(cfg["train"].get("log_dir") or DEFAULT_LOG_DIR)
    return LiveLog([SINKS[name](cfg, run, log_dir) for name in dict.fromkeys(names)])


@sink("tensorboard")
class TensorBoard(Sink):
    """Event files under ``LOG_DIR/tensorboard/RUN``, in double precision (read back exactly)."""

    def __init__(self, cfg: dict[str, Any], run: str, log_dir: Path) -> None:
        tensorboard = _need("torch.utils.tensorboard", "tensorboard", "'lpg-meta[track]' (or tensorboard)")
        self.path = log_dir / "tensorboard" / run
        self.writer = tensorboard.SummaryWriter(str(self.path))

    def scalars(self, values: dict[str, float], step: int) -> None:
        for key, value in values.items():
            self.writer.add_scalar(key, value, step, new_style=True, double_precision=True)
        self.writer.flush()  # live: TensorBoard shows the epoch now, not at the end

    def close(self) -> None:
        self.writer.close()


@sink("mlflow")
class MLflow(Sink):
    """One MLflow run per training run (a resumed run continues its MLflow run), config as params."""

    def __init__(self, cfg: dict[str, Any], run: str, log_dir: Path) -> None:
        tracking = _need("mlflow.tracking", "mlflow", "'lpg-meta[track]' (or mlflow-skinny)")
        uri = cfg["train"].get("mlflow_uri")
        if uri is None:
            log_dir.mkdir(parents=True, exist_ok=True)
            uri = f"sqlite:///{(log_dir / 'mlflow.db').resolve()}"
        # A server that is down answers at once instead of after MLflow's default retries (minutes).
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
        try:
            self.client = tracking.MlflowClient(tracking_uri=uri)
            self.run_id = self._run(cfg, run)
        except Exception as err:  # noqa: BLE001 - MLflow raises many kinds for an unreachable store
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise UserError(f"train.mlflow_uri {uri!r}: cannot reach the MLflow tracking store ({first[:200]}); "
                            "start the server, fix the URI, or leave train.mlflow_uri unset for a local "
                            "store under train.log_dir.") from None

    def _run(self, cfg: dict[str, Any], run: str) -> str:
        from mlflow.entities import Param

        experiment = self.client.get_experiment_by_name(MLFLOW_EXPERIMENT)
        experiment_id = (experiment.experiment_id if experiment is not None
                         else self.client.create_experiment(MLFLOW_EXPERIMENT))
        unfinished = self.client.search_runs([experiment_id], f"tags.lpg_run = '{run}' and status = 'RUNNING'",
                                             max_results=1)
        if unfinished:  # a resumed run: its curves go on where they stopped
            return unfinished[0].info.run_id
        made = self.client.create_run(experiment_id, run_name=run, tags={"lpg_run": run})
        params = [Param(k, str(v)[:6000]) for k, v in _flat(without_live_settings(cfg)).items()]
        for start in range(0, len(params), 100):  # MLflow takes at most 100 params a batch
            self.client.log_batch(made.info.run_id, params=params[start:start + 100])
        return made.info.run_id

    def scalars(self, values: dict[str, float], step: int) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(k, v, now, step) for k, v in values.items()])

    def close(self) -> None:
        self.client.set_terminated(self.run_id)


@sink("wandb")
class WandB(Sink):
    """A Weights & Biases run (project ``lpg-meta``; ``WANDB_MODE=offline`` keeps it local)."""

    def __init__(self, cfg: dict[str, Any], run: str, log_dir: Path) -> None:
        wandb = _need("wandb", "wandb", "wandb")
        log_dir.mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(project=MLFLOW_EXPERIMENT, name=run, config=without_live_settings(cfg),
                              dir=str(log_dir), reinit="create_new")

    def scalars(self, values: dict[str, float], step: int) -> None:
        self.run.log(values, step=step)

    def close(self) -> None:
        self.run.finish()


def _need(module: str, logger: str, package: str) -> Any:
    """Import a logger's library, or say how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise UserError(f"train.log has {logger} but it is not installed: pip install {package}.") from None


def _flat(cfg: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in cfg.items():
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
