"""Every GPU of a node: ``--workers N --devices ...`` round-robin, ``train.device=cuda:N`` (CUDA faked)."""

import pytest
import torch
from suite_kit import tiny_suite, write_suite

from lpg_meta.bench import devices, runner
from lpg_meta.cli import main
from lpg_meta.config import resolve_config
from lpg_meta.errors import UserError
from lpg_meta.train.device import resolve_device


@pytest.fixture
def two_gpus(monkeypatch):
    """A machine with two GPUs, as far as the code that picks devices can tell."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)


def test_workers_4_devices_0_1_trains_on_0_1_0_1_and_says_so_first(two_gpus, monkeypatch, tmp_path, capsys):
    spawned = []
    monkeypatch.setattr(runner, "_spawn", lambda plan, assignment, tracker: spawned.append(assignment))
    monkeypatch.setattr(devices, "cores", lambda: 16)
    path = write_suite(tmp_path, tiny_suite("dev", epochs=1))
    main(["run", str(path), "--workers", "4", "--devices", "0,1"])  # nothing trains: _spawn is faked
    assert spawned == [[0, 1, 0, 1]]
    first = capsys.readouterr().err.splitlines()[0]
    assert first == "lpg-meta: 4 workers on cuda:0, cuda:1, cuda:0, cuda:1; 4 CPU threads each"


def test_round_robin_over_every_visible_gpu_by_default(two_gpus):
    assert devices.assign(3) == [0, 1, 0]
    assert devices.assign(2, [1]) == [1, 1]


def test_one_gpu_or_none_assigns_nothing_and_cpu_workers_keep_one_thread(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert devices.assign(2) == [None, None]
    assert devices.threads_per_worker(2, [None, None], 1) == 1
    monkeypatch.setattr(devices, "cores", lambda: 16)
    assert devices.threads_per_worker(3, [0, 1, 0], 1) == 5


def test_train_device_cuda_n(two_gpus):
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert resolve_device("cuda") == torch.device("cuda", 0)  # the process's current GPU
    with pytest.raises(UserError, match="cuda:2 but this machine has GPUs 0 to 1"):
        resolve_device("cuda:2")
    assert resolve_config({"train": {"device": "cuda:1"}})["train"]["device"] == "cuda:1"


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "cuda1"])
def test_a_malformed_device_is_a_user_error(device):
    with pytest.raises(UserError, match="train.device must be auto, cpu, cuda or cuda:N"):
        resolve_config({"train": {"device": device}})


def test_no_gpu_for_cuda_n_is_a_user_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match="no CUDA device is visible"):
        resolve_device("cuda:0")


@pytest.mark.parametrize(("flag", "gpus", "message"), [
    ("0,2", 2, "no GPU 2 here; the visible ones are 0 to 1"),
    ("0;1", 2, "give GPU indexes separated by commas"),
    ("0", 0, "no CUDA device is visible here"),
])
def test_bad_devices_exit_2_in_one_line_before_anything_is_written(monkeypatch, tmp_path, capsys, flag, gpus,
                                                                  message):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpus > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    path = write_suite(tmp_path, tiny_suite("dev", epochs=1))
    assert main(["run", str(path), "--workers", "2", "--devices", flag]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "out").exists()
