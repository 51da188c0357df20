"""The result format lives in lpg_meta.results: every writer and reader agrees with it."""

from __future__ import annotations

import json

import torch

from lpg_meta.results import (
    METRIC_DIRECTIONS,
    PER_EPOCH_METRICS,
    RESULT_NAME,
    SHOT_GROUPS,
    config_hash,
    history_key,
    load_finished_file,
    shot_groups,
)
from lpg_meta.train.metrics import classification_metrics


def test_metric_directions_name_every_metric_a_split_reports() -> None:
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 3.0]])
    metrics = classification_metrics(logits, torch.tensor([0, 1, 1, 1]), 2, train_counts=[200, 5])
    scalars = {k for k, v in metrics.items() if isinstance(v, float) or v is None}
    assert scalars == set(METRIC_DIRECTIONS)
    assert set(SHOT_GROUPS) <= scalars and set(PER_EPOCH_METRICS) <= scalars
    # hand-computed: the error is 1 - accuracy, lower is better; accuracy 3/4
    assert metrics["accuracy"] == 0.75 and metrics["error"] == 0.25
    assert METRIC_DIRECTIONS["error"] == "minimize" and METRIC_DIRECTIONS["accuracy"] == "maximize"


def test_shot_groups_one_naming_for_data_and_metrics() -> None:
    groups = shot_groups([150, 100, 50, 20, 19, 0], many_threshold=100, few_threshold=20)
    assert groups == {"many_shot": [0], "medium_shot": [1, 2, 3], "few_shot": [4, 5]}


def test_history_keys_are_what_the_trainer_writes(tmp_path) -> None:
    from lpg_meta.config import resolve_config
    from lpg_meta.train.trainer import train

    cfg = resolve_config({"dataset": "digits", "method": "ce",
                          "train": {"epochs": 1, "progress": "none", "max_steps_per_epoch": 2}})
    result = train(cfg, tmp_path)
    expected = {history_key(s, m) for s in ("val", "test") for m in PER_EPOCH_METRICS}
    assert expected <= set(result["history"][0])
    assert result["data"]["shot_groups"].keys() == set(SHOT_GROUPS)
    # a finished run of the same config is found again; the progress display is no identity
    assert load_finished_file(tmp_path / RESULT_NAME, cfg) is not None
    shown = {**cfg, "train": {**cfg["train"], "progress": "bar"}}
    assert config_hash(shown) == config_hash(cfg)
    assert load_finished_file(tmp_path / RESULT_NAME, {**cfg, "seed": 1}) is None
    stored = json.loads((tmp_path / RESULT_NAME).read_text())
    stored["status"] = "failed"
    (tmp_path / RESULT_NAME).write_text(json.dumps(stored))
    assert load_finished_file(tmp_path / RESULT_NAME, cfg) is None
