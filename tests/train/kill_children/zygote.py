"""Runs training jobs in forked children, each SIGKILLed at a chosen point (kill tests' helper).

``python zygote.py JOBS.json STATUS.json``: JOBS is a list of ``{"cfg", "out", "kill"}`` with
``kill`` None or ``[phase, n]``: the child sends itself SIGKILL at the n-th ``phase`` event of
its life: ``step`` (before a training step), ``eval`` (inside an evaluation, after its forward
passes) or ``write`` (inside a checkpoint write, the temporary file written, not yet renamed).
This process imports torch once and warms up with one short run on a single thread (no OpenMP
pool to break by forking), so each child starts warm: no interpreter start, imports or caches.
STATUS gets each child's exit code (negative: a signal).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from typing import Any

import torch

import lpg_meta.train.checkpoint as checkpoint
import lpg_meta.train.trainer as trainer


def _arm(phase: str, n: int) -> None:
    """Kill this process at the n-th event of ``phase``."""
    count = [0]

    def hit() -> None:
        count[0] += 1
        if count[0] == n:
            os.kill(os.getpid(), signal.SIGKILL)

    if phase == "step":
        real_info = trainer.StepInfo

        def info(*args: Any, **kwargs: Any) -> Any:
            hit()
            return real_info(*args, **kwargs)

        trainer.StepInfo = info  # built once per training step, before it
    elif phase == "eval":
        real_metrics = trainer.classification_metrics

        def metrics(*args: Any, **kwargs: Any) -> Any:
            hit()
            return real_metrics(*args, **kwargs)

        trainer.classification_metrics = metrics
    elif phase == "write":
        real_save = checkpoint.torch.save

        def save(payload: Any, handle: Any, *args: Any, **kwargs: Any) -> None:
            real_save(payload, handle, *args, **kwargs)
            handle.flush()  # the whole temporary file on disk, renamed never
            hit()

        checkpoint.torch.save = save
    else:
        raise ValueError(phase)


def run(job: dict[str, Any]) -> int:
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            if job["kill"]:
                _arm(*job["kill"])
            trainer.train(job["cfg"], job["out"], foreign_checkpoint=job.get("foreign", "error"))
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


if __name__ == "__main__":
    torch.set_num_threads(1)
    jobs = json.loads(open(sys.argv[1]).read())
    warm = {**jobs[0]["cfg"], "train": {**jobs[0]["cfg"]["train"], "epochs": 1, "max_steps_per_epoch": 1}}
    trainer.train(warm)
    statuses = [run(job) for job in jobs]
    with open(sys.argv[2], "w") as handle:
        json.dump(statuses, handle)
