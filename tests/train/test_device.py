"""Accelerator settings: the CPU defaults keep the old path and configs, the options work."""

from __future__ import annotations

import pytest
import torch

from lpg_meta.config import resolve_config
from lpg_meta.errors import UserError
from lpg_meta.models import build_model
from lpg_meta.train.device import Accelerator, use_channels_last
from lpg_meta.train.trainer import train

# The train section before the accelerator settings existed; result.json files of earlier runs
# hold exactly these keys, and ``lpg-meta run`` compares config hashes to skip finished work.
OLD_TRAIN_KEYS = {"epochs", "batch_size", "eval_batch_size", "device", "threads", "progress"}


def tiny(**train_settings):
    return resolve_config({"dataset": "mnist1d", "method": "ce", "seed": 0, "data": {"num_samples": 600},
                           "train": {"epochs": 2, "progress": "none", **train_settings}})


def test_defaults_leave_configs_as_they_were():
    assert set(tiny()["train"]) == OLD_TRAIN_KEYS
    assert set(tiny(amp="none", num_workers=0, channels_last=None)["train"]) == OLD_TRAIN_KEYS
    cfg = tiny(amp="bf16", num_workers=2, channels_last=False, max_steps_per_epoch=3)
    assert {k: cfg["train"][k] for k in set(cfg["train"]) - OLD_TRAIN_KEYS} == {
        "amp": "bf16", "num_workers": 2, "channels_last": False, "max_steps_per_epoch": 3}
    assert resolve_config(cfg) == cfg  # resolving again gives the same run


@pytest.mark.parametrize(("key", "value", "message"), [
    ("amp", "fp16", "one of none, bf16"), ("channels_last", "yes", "true, false or null"),
    ("num_workers", -1, ">= 0"), ("max_steps_per_epoch", -2, ">= 0")])
def test_bad_settings_name_the_key(key, value, message):
    with pytest.raises(UserError, match=f"train.{key}.*{message}"):
        tiny(**{key: value})


def test_cpu_defaults_are_float32_contiguous_and_hook_free():
    model = build_model("resnet32", 10, (3, 32, 32), {})
    acc = Accelerator({}, torch.device("cpu"))
    model = acc.prepare_model(model, {})
    assert not acc.channels_last and not model._forward_hooks
    x = acc.to_device(torch.zeros(2, 3, 32, 32))
    assert x.is_contiguous() and model(x).dtype == torch.float32
    # auto layout: channels-last for 2-d conv nets on CUDA only (the device type decides).
    assert use_channels_last({}, model, torch.device("cuda"))
    assert not use_channels_last({}, build_model("mlp", 10, (40,), {}), torch.device("cuda"))
    assert not use_channels_last({}, model, torch.device("cpu"))


def test_bf16_gives_float32_logits_from_a_bf16_network():
    model = build_model("resnet32", 10, (3, 32, 32), {})
    acc = Accelerator({"amp": "bf16"}, torch.device("cpu"))
    model = acc.prepare_model(model, {"amp": "bf16", "channels_last": True})
    x = acc.to_device(torch.rand(2, 3, 32, 32))
    assert x.is_contiguous(memory_format=torch.channels_last)
    with acc.autocast():
        out = model(x)
        assert model.linear(torch.zeros(1, 64)).dtype == torch.bfloat16  # autocast is on inside
    assert out.dtype == torch.float32


def test_max_steps_per_epoch_truncates_epochs_and_schedule():
    result = train(tiny(max_steps_per_epoch=2))
    assert result["timing"]["steps"] == 4
    assert result["history"][-1]["lr"] == pytest.approx(0.0, abs=1e-9)  # cosine over 4 steps


def test_worker_batches_do_not_depend_on_the_number_of_workers():
    one, two = train(tiny(num_workers=1)), train(tiny(num_workers=2))
    assert one["history"] == two["history"] and one["metrics"] == two["metrics"]
    assert one["timing"]["num_workers"] == 1
    # A different stream from the in-process path (documented), but the same learning task.
    assert one["history"] != train(tiny())["history"]
