"""Checkpoints of a run in its folder: written atomically, matched by config hash, resumed exactly.

A checkpoint is taken between two training steps and holds everything the next step depends on
(the trainer's ``snapshot``): model, optimizer, scheduler, the method's state, every random
generator, the batch order, counters and the history so far. A run resumed from it gives the
``result.json`` of an uninterrupted run bit for bit on the CPU.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lpg_meta.config import train_setting
from lpg_meta.errors import UserError
from lpg_meta.results import RESULT_NAME, config_hash, remove_stray_temps, write_atomic

CHECKPOINT_NAME = "checkpoint.pt"
FORMAT = 1
# What the first write is assumed to cost, before one was timed: a small model's checkpoint
# with fsync on a network file system. A run shorter than this / checkpoint_budget (2.5 s at
# 2 %) gets no checkpoint; it is cheaper to rerun.
FIRST_WRITE_S = 0.05


def rng_states() -> dict[str, Any]:
    """The global generators' states: torch (CPU and CUDA), NumPy and Python."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "python": random.getstate(),
    }


def set_rng_states(states: dict[str, Any]) -> None:
    """Put back what ``rng_states`` took."""
    torch.set_rng_state(states["torch"])
    if states["cuda"]:
        torch.cuda.set_rng_state_all(states["cuda"])
    kind, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))


def save_torch_atomic(path: Path, payload: Any) -> None:
    """``torch.save`` through ``write_atomic``: the file is whole or absent."""
    write_atomic(path, lambda handle: torch.save(payload, handle))


def finish_checkpoints(folder: str | Path, train: dict[str, Any]) -> None:
    """Remove a finished run's checkpoint (once its result is written), unless ``keep_checkpoints``."""
    if not train_setting(train, "keep_checkpoints"):
        (Path(folder) / CHECKPOINT_NAME).unlink(missing_ok=True)


class Checkpointer:
    """When and where one run's checkpoints are written, and the resume from them.

    Args:
        folder: the run folder (the checkpoint is ``folder/checkpoint.pt``).
        cfg: the resolved config; its hash is stored and checked on resume.
        foreign: what a checkpoint of another config gets: ``"error"`` (a UserError naming the
            file; ``lpg-meta train``) or ``"restart"`` (replaced; the suite, which owns its folders).
    """

    def __init__(self, folder: str | Path, cfg: dict[str, Any], foreign: str = "error") -> None:
        self.folder = Path(folder)
        self.path = self.folder / CHECKPOINT_NAME
        self.hash = config_hash(cfg)
        self.foreign = foreign
        train = cfg["train"]
        self.every = train_setting(train, "checkpoint_every")
        self.seconds = 60.0 * train_setting(train, "checkpoint_minutes")
        self.keep = train_setting(train, "keep_checkpoints")
        self.budget = train_setting(train, "checkpoint_budget")
        self.started = self.last_write = time.monotonic()
        self.last_cost = FIRST_WRITE_S
        self.seconds_writing = 0.0
        self.writes = 0

    def load(self) -> dict[str, Any] | None:
        """The checkpoint to resume from, or None (none, or unreadable: reported, then ignored)."""
        # Only this process owns the run folder: temporary files are from writers killed mid-write.
        remove_stray_temps(self.folder, CHECKPOINT_NAME)
        remove_stray_temps(self.folder, RESULT_NAME)
        if not self.path.exists():
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
            found = state["config_hash"]
        except Exception as err:  # truncated or corrupt: any of zipfile's, pickle's or torch's errors
            reason = " ".join(str(err).split())[:120] or type(err).__name__
            print(f"lpg-meta: warning: checkpoint {self.path} is unreadable ({reason}); training from the "
                  "start.", file=sys.stderr)
            return None
        if found != self.hash:
            if self.foreign == "restart":
                print(f"lpg-meta: note: {self.path} is a checkpoint of another config ({found}, this run is "
                      f"{self.hash}); training from the start.", file=sys.stderr)
                return None
            raise UserError(f"{self.path} is a checkpoint of another config ({found}; this run is {self.hash}); "
                            "keep it with --out DIR (another folder), or replace it with --force.")
        return state

    def due(self, epoch_done: int | None) -> bool:
        """Whether to write now: after every ``checkpoint_every``-th epoch (``epoch_done``, 1-based),
        or inside an epoch (``epoch_done`` None) once ``checkpoint_minutes`` have passed.

        Either is skipped while the writes so far and one more (costing what the last did) would
        take more than ``checkpoint_budget`` of the time since the run started: short CPU epochs
        get a checkpoint every few epochs, long ones every epoch.
        """
        now = time.monotonic()
        if self.budget is not None and self.seconds_writing + self.last_cost > self.budget * (now - self.started):
            return False
        since = now - self.last_write
        if epoch_done is not None:
            return self.every > 0 and epoch_done % self.every == 0
        return self.seconds > 0 and since >= self.seconds

    def save(self, state: dict[str, Any]) -> None:
        """Write ``state`` (with the config hash) atomically over the last checkpoint."""
        start = time.monotonic()
        save_torch_atomic(self.path, {"format": FORMAT, "config_hash": self.hash, **state})
        self.last_write = time.monotonic()
        self.last_cost = self.last_write - start
        self.seconds_writing += self.last_cost
        self.writes += 1

    def finish(self) -> None:
        """The run is over: its checkpoint goes, unless ``train.keep_checkpoints``."""
        finish_checkpoints(self.folder, {"keep_checkpoints": self.keep})

    def record(self) -> dict[str, Any]:
        """For ``result.json``'s timing: how many checkpoints were written and their cost."""
        return {"checkpoints": self.writes, "seconds_checkpointing": self.seconds_writing}
