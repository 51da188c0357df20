"""Live metrics: the curves in TensorBoard's event files and MLflow's store equal the run's history,
and result.json is the same with logging on or off."""

import importlib.util
import json
import sys
import types
from pathlib import Path

import pytest

from lpg_meta.config import resolve_config
from lpg_meta.errors import UserError
from lpg_meta.results import config_hash
from lpg_meta.train.loggers import open_live_log, tag
from lpg_meta.train.trainer import train

pytest.importorskip("tensorboard")
pytest.importorskip("mlflow")
_spec = importlib.util.spec_from_file_location(
    "compare_results", Path(__file__).resolve().parents[2] / "benchmarks/compare_results.py")
compare_results = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(compare_results)


def tiny(**train_settings):
    return resolve_config({"dataset": "mnist1d", "method": "lpg_scale", "seed": 1,
                           "data": {"num_samples": 400}, "method_params": {"meta_batch_size": 20},
                           "train": {"epochs": 2, "batch_size": 64, "progress": "none", **train_settings}})


def tensorboard_curves(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util.tensor_util import make_ndarray

    runs = [p.parent for p in folder.rglob("events.out.tfevents.*")]
    assert len(runs) == 1, runs
    events = EventAccumulator(str(runs[0]), size_guidance={"tensors": 0})
    events.Reload()
    return {key: [(e.step, make_ndarray(e.tensor_proto).item()) for e in events.Tensors(key)]
            for key in events.Tags()["tensors"]}


def mlflow_curves(uri, keys):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("lpg-meta").experiment_id])
    assert run.info.status == "FINISHED"
    return run, {k: [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, k)] for k in keys}


def test_curves_in_tensorboard_and_mlflow_equal_the_history_and_the_result_is_unchanged(tmp_path):
    plain = train(tiny(), tmp_path / "off")
    logged = train(tiny(log=["tensorboard", "mlflow"], log_dir=str(tmp_path / "live")), tmp_path / "on")

    # result.json is the same with logging on or off, bit for bit, but for wall-clock times and provenance
    off, on = (json.loads((tmp_path / d / "result.json").read_text()) for d in ("off", "on"))
    assert compare_results.differences(off, on) == []
    assert off["history"] and off["lpg"]["trajectory"]  # the comparison had numbers to compare
    assert config_hash(logged["config"]) == config_hash(plain["config"])

    history = logged["history"]
    expected = {tag(k): [(h["epoch"], h[k]) for h in history] for k in history[0] if k != "epoch"}
    lpg = logged["lpg"]
    # an epoch without a meta step has no meta loss (null in result.json): nothing is logged for it
    expected["lpg/meta_loss"] = [(e + 1, v) for e, v in enumerate(lpg["meta_loss"]) if v is not None]
    for c in range(10):
        expected[f"lpg/a_c/class_{c}"] = [(e + 1, a[c]) for e, a in enumerate(lpg["trajectory"])]
    assert tensorboard_curves(tmp_path / "live/tensorboard") == expected  # exact: written in double
    run, curves = mlflow_curves(f"sqlite:///{tmp_path}/live/mlflow.db", expected)
    assert curves == expected
    assert run.data.params["optim.lr"] == "0.1" and run.info.run_name.startswith("mnist1d/lpg_scale/seed1-")

    # A run killed mid-way (its MLflow run left RUNNING) continues that MLflow run when resumed.
    cfg = tiny(log=["mlflow"], log_dir=str(tmp_path / "live"))
    killed = open_live_log(cfg).sinks[0].run_id  # never closed
    assert killed != run.info.run_id  # the finished one is not reopened
    resumed = open_live_log(cfg)
    assert resumed.sinks[0].run_id == killed
    resumed.close()


@pytest.mark.parametrize(("settings", "message"), [
    ({"log": ["tensorbord"]}, "unknown logger 'tensorbord'. Did you mean 'tensorboard'?"),
    ({"log": "mlflow"}, "train.log must be a list"),
    ({"log_dir": 3}, "train.log_dir must be a path"),
])
def test_bad_logging_settings_are_user_errors(settings, message):
    with pytest.raises(UserError, match=message):
        tiny(**settings)


def test_an_unreachable_tracking_server_stops_the_run_before_training(tmp_path):
    cfg = tiny(log=["mlflow"], mlflow_uri="http://127.0.0.1:9")  # the discard port: nothing answers
    with pytest.raises(UserError, match="cannot reach the MLflow tracking store"):
        train(cfg, tmp_path)
    assert not (tmp_path / "result.json").exists()


def test_wandb_gets_each_epoch_where_it_is_installed(monkeypatch, tmp_path):
    calls = []

    class Run:  # the part of a wandb run the logger uses
        def log(self, values, step):
            calls.append((step, values))

        def finish(self):
            calls.append("finish")

    def init(**kwargs):
        calls.append(kwargs["name"])
        return Run()

    monkeypatch.setitem(sys.modules, "wandb", types.SimpleNamespace(init=init))
    result = train(tiny(log=["wandb"], log_dir=str(tmp_path)))
    assert calls[0].startswith("mnist1d/lpg_scale/seed1-") and calls[-1] == "finish"
    history = result["history"]
    assert [(step, values["val/balanced_accuracy"]) for step, values in calls[1:-1]] == [
        (h["epoch"], h["val_balanced_accuracy"]) for h in history]
    monkeypatch.setitem(sys.modules, "wandb", None)  # not installed
    with pytest.raises(UserError, match="wandb but it is not installed: pip install wandb"):
        train(tiny(log=["wandb"], log_dir=str(tmp_path)))
