"""Checkpoints: identity, foreign and corrupt checkpoints, saved models, Ctrl-C, method state."""


import pytest
import torch

from lpg_meta import cli
from lpg_meta.bench.cells import expand
from lpg_meta.bench.schema import load_suite
from lpg_meta.config import resolve_config
from lpg_meta.errors import UserError
from lpg_meta.results import config_hash
from lpg_meta.stage import is_progress
from lpg_meta.train import trainer
from lpg_meta.train.checkpoint import CHECKPOINT_NAME
from lpg_meta.train.saved import evaluate_saved, load_model

# config_hash of three benchmarks/cpu.yaml cells (seeds 0 and 2), computed on the tree before
# checkpoints existed (commit 1e70397; main at 96788ec gives the same): finished results keep their keys.
# The meta methods' default meta_interval became 10 (a changed default is a changed
# run): lpg+gce's keys are from then.
CPU_HASHES = {
    "mnist1d_bal/ce": ("afc03b280d9e5d24", "d5b03c98ab4ad7a5"),
    "mnist1d_bal/focal": ("63ba7ee7e804d270", "c9436631d12fae7b"),
    "digits_asym/lpg+gce": ("3e30c008a3fc118c", "435fcb39495a3d3a"),
}


def tiny(method="lpg", **train):
    return resolve_config({
        "dataset": "digits", "method": method, "model": "mlp", "seed": 1,
        "train": {"epochs": 2, "batch_size": 128, "max_steps_per_epoch": 3, "eval_batch_size": 256,
                  "threads": 1, "progress": "none", "checkpoint_budget": None, **train},
    })


def same_run(a, b):
    return a["metrics"] == b["metrics"] and a["history"] == b["history"]


def test_cpu_suite_hashes_are_unchanged():
    cells = {cell.name: cell for cell in expand(load_suite("benchmarks/cpu.yaml"))}

    def without_bound(cfg):  # the suite turned train.pac_bayes on: a new key, on purpose
        assert cfg["train"].pop("pac_bayes") is True
        return config_hash(cfg)

    for name, (seed0, seed2) in CPU_HASHES.items():
        assert (without_bound(cells[name].config(0, {})), without_bound(cells[name].config(2, {}))) == (seed0, seed2)


def test_checkpoint_settings_are_not_identity():
    base = tiny()
    for key, value in (("checkpoint_every", 5), ("checkpoint_minutes", 1.5), ("keep_checkpoints", True),
                       ("save_model", True), ("checkpoint_budget", 0.5)):
        assert config_hash(tiny(**{key: value})) == config_hash(base), key
    assert config_hash(tiny(epochs=3)) != config_hash(base)  # what is identity still is


@pytest.mark.parametrize("bad", [{"checkpoint_every": -1}, {"checkpoint_minutes": -2.0},
                                 {"keep_checkpoints": "yes"}, {"save_model": 1}, {"checkpoint_budget": 0.0}])
def test_bad_checkpoint_settings_name_the_field(bad):
    with pytest.raises(UserError, match=f"train.{next(iter(bad))}"):
        tiny(**bad)


def test_checkpoint_of_another_config_is_refused(tmp_path):
    trainer.train(tiny(keep_checkpoints=True), tmp_path)
    assert (tmp_path / CHECKPOINT_NAME).exists()
    other = tiny(epochs=3)
    with pytest.raises(UserError, match="checkpoint of another config") as err:
        trainer.train(other, tmp_path)
    assert "\n" not in str(err.value) and config_hash(other) in str(err.value)
    # The suite owns its run folders: there a stale checkpoint is replaced.
    restarted = trainer.train(other, tmp_path, foreign_checkpoint="restart")
    assert same_run(restarted, trainer.train(other))


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_checkpoint_is_reported_and_the_run_starts_over(tmp_path, capsys, damage):
    cfg = tiny(keep_checkpoints=True)
    reference = trainer.train(cfg, tmp_path)
    path = tmp_path / CHECKPOINT_NAME
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"not a checkpoint" * 50, "empty": b""}[damage])
    capsys.readouterr()
    again = trainer.train(cfg, tmp_path)
    err = capsys.readouterr().err
    assert f"checkpoint {path} is unreadable" in err and "training from the start" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert same_run(again, reference)


def test_resume_from_the_final_checkpoint_writes_the_same_result(tmp_path, capsys):
    cfg = tiny(keep_checkpoints=True)
    first = trainer.train(cfg, tmp_path)
    (tmp_path / "result.json").unlink()  # killed after the last checkpoint, before the result
    second = trainer.train(cfg, tmp_path)
    assert "resuming from" in capsys.readouterr().err
    assert same_run(first, second) and second["timing"]["steps"] == first["timing"]["steps"]


def test_checkpoints_are_removed_when_the_run_finishes(tmp_path):
    result = trainer.train(tiny(), tmp_path)
    assert result["timing"]["checkpoints"] == 2  # one an epoch
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]


def test_checkpoint_budget_skips_writes_that_would_cost_too_much(tmp_path, monkeypatch):
    from lpg_meta.train import checkpoint

    clock = [0.0]
    monkeypatch.setattr(checkpoint.time, "monotonic", lambda: clock[0])
    ckpt = checkpoint.Checkpointer(tmp_path, tiny(checkpoint_budget=0.02))
    monkeypatch.setattr(checkpoint, "save_torch_atomic", lambda path, payload: clock.__setitem__(0, clock[0] + 1.0))
    clock[0] = 2.4  # a first write, assumed to cost 0.05 s, would be 2.08 % of the time
    assert not ckpt.due(1)
    clock[0] = 2.5  # 0.05 s is 2 % of 2.5 s
    assert ckpt.due(1)
    ckpt.save({})  # costs 1 s: two writes like it fit 2 % of 100 s
    clock[0] = 99.9
    assert not ckpt.due(2)
    clock[0] = 100.0
    assert ckpt.due(2) and not ckpt.due(None)  # checkpoint_minutes: 10 minutes not yet passed
    assert not checkpoint.Checkpointer(tmp_path, tiny(checkpoint_every=0)).due(1)


def test_saved_model_reproduces_the_recorded_test_metrics(tmp_path):
    cfg = tiny(method="la", save_model=True)  # la: a prediction-time logit adjustment too
    result = trainer.train(cfg, tmp_path)
    assert result["saved_model"] == {"initial": "model_init.pt", "final": "model.pt"}
    assert evaluate_saved(tmp_path) == result["metrics"]["test"]
    assert evaluate_saved(tmp_path, "val") == result["metrics"]["val"]
    initial, _, _ = load_model(tmp_path, "initial")
    final, _, _ = load_model(tmp_path, "final")
    torch.manual_seed(cfg["seed"])  # the trainer's seeding: the initial weights are the model's init
    fresh = trainer.build_model(cfg["model"], 10, (1, 8, 8), cfg["model_params"])
    assert all(torch.equal(a, b) for a, b in zip(initial.state_dict().values(), fresh.state_dict().values(),
                                                 strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(initial.state_dict().values(), final.state_dict().values(),
                                                     strict=True))


def test_loader_needs_saved_weights(tmp_path):
    trainer.train(tiny(), tmp_path)
    with pytest.raises(UserError, match="train.save_model=true"):
        load_model(tmp_path)


def test_ctrl_c_prints_the_command_that_resumes(tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "train", interrupted)
    argv = ["train", "--dataset", "digits", "--method", "ce", "--out", str(tmp_path / "run")]
    assert cli.main(argv) == 130
    err = "\n".join(line for line in capsys.readouterr().err.splitlines() if not is_progress(line))
    assert err.strip() == ("lpg-meta: interrupted. the last checkpoint is kept; run the same command again to "
                           f"resume: lpg-meta {' '.join(argv)}")


def test_method_state_round_trips_into_a_fresh_method(tmp_path):
    """A fresh method given a trained one's state holds the same tensors (phi, Adam moments, q)."""
    from lpg_meta.methods import TrainContext, build_method

    ctx = TrainContext(num_classes=3, class_counts=[5, 3, 2], epochs=2, steps_per_epoch=1)
    method = build_method("lpg_rule", {}, ctx)
    method.rule.q = torch.tensor([0.5, 0.25, 0.25])
    method.trajectory.append([1.0, 2.0, 3.0])
    fresh = build_method("lpg_rule", {}, ctx)
    assert not torch.equal(fresh.rule.q, method.rule.q)
    fresh.load_state_dict(method.state_dict())
    assert torch.equal(fresh.rule.q, method.rule.q) and fresh.trajectory == method.trajectory
