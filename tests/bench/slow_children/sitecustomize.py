"""Test-only pauses for the kill-and-resume tests, loaded by their child processes.

``tests/bench/test_kill_resume.py`` starts ``lpg-meta run`` with this folder on ``PYTHONPATH``,
so Python imports this file at start-up in the CLI process and in every spawned worker. With
``$LPG_TEST_SLOW_S`` set, each training run pauses that long after each epoch (tuning trials
and seeded runs) and before each ``result.json`` rename, so the test can SIGKILL a worker in
the middle of training, tuning or writing a result. Tiny test runs would finish too fast.
"""

from __future__ import annotations

import os
import time
from typing import Any

DELAY_S = float(os.environ.get("LPG_TEST_SLOW_S") or 0)


def _install() -> None:
    import lpg_meta.bench.runner as runner
    import lpg_meta.train.trainer as trainer

    real_train, real_write = trainer.train, runner.write_result

    def slow_train(cfg: dict[str, Any], out_dir: Any = None, on_epoch: Any = None, **kwargs: Any) -> Any:
        def paused(epoch: int, val: dict[str, Any]) -> None:
            if on_epoch is not None:
                on_epoch(epoch, val)
            time.sleep(DELAY_S)

        return real_train(cfg, out_dir, paused, **kwargs)

    def slow_write(run_dir: Any, result: dict[str, Any]) -> None:
        real_replace = os.replace

        def slow_replace(src: Any, dst: Any) -> None:
            time.sleep(DELAY_S)  # the finished temporary file is held before the rename
            real_replace(src, dst)

        os.replace = slow_replace  # write_json_atomic's rename; nothing else runs meanwhile
        try:
            real_write(run_dir, result)
        finally:
            os.replace = real_replace

    trainer.train, runner.write_result = slow_train, slow_write


if DELAY_S > 0:
    _install()
