"""``lpg-meta run SUITE --slurm partition=gpu,gpus_per_task=1,array=64``: workers as a Slurm job array.

Submitted through submitit: each array task is one worker (``run_suite`` with one process) on
the suite's storage, exactly as ``lpg-meta run`` started by hand on each node; the storage hands
each unit to one task. A task that Slurm preempts or that reaches its time limit is requeued by
submitit (``SuiteWorker.checkpoint``) and, like any restarted worker, continues its unit from
the run folder's checkpoint. The storage and the output folder must be reachable from every
node: a PostgreSQL URL (``--storage postgresql://...``) and a shared file system.

Options: ``array=N`` is the number of tasks (default 1), ``array_parallelism=N`` how many run at
once; submitit's shared options (``timeout_min``, ``mem_gb``, ``cpus_per_task``, ``gpus_per_node``,
``tasks_per_node``, ``nodes``, ``name``) pass as they are; any other option is Slurm's, e.g.
``partition``, ``gpus_per_task``, ``account``, ``qos``, ``constraint`` (submitit's ``slurm_*``).
``cluster=local`` runs the tasks as local processes (submitit's local executor) to try a recipe.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from lpg_meta.errors import UserError, closest
from lpg_meta.yaml_loader import load_value


def parse_options(text: str) -> dict[str, Any]:
    """``key=value,key=value`` into a mapping (values parsed as YAML scalars)."""
    out: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--slurm: expected key=value, got {item!r} (e.g. --slurm partition=gpu,array=8).")
        out[key.strip()] = load_value(value.strip())
    return out


def executor(options: dict[str, Any], folder: Path) -> tuple[Any, int]:
    """A submitit executor with ``options`` applied, and the number of array tasks."""
    try:
        import submitit
    except ImportError:
        raise UserError("--slurm needs submitit: pip install 'lpg-meta[slurm]' (or pip install submitit).") from None
    options = dict(options)
    tasks = options.pop("array", 1)
    if isinstance(tasks, bool) or not isinstance(tasks, int) or tasks < 1:
        raise UserError(f"--slurm array={tasks!r}: the number of tasks must be a positive integer.")
    cluster = options.pop("cluster", None)
    if cluster not in (None, "slurm", "local"):
        raise UserError(f"--slurm cluster={cluster!r}: use slurm (the default) or local.")
    generic = submitit.AutoExecutor._typed_parameters()  # noqa: SLF001 - the shared options submitit translates
    known = [*generic, *submitit.SlurmExecutor._valid_parameters(), "array_parallelism"]  # noqa: SLF001
    for key in options:
        if key not in known:
            raise UserError(f"--slurm: unknown option '{key}'.{closest(key, known)} Options are sbatch's "
                            "(submitit's slurm_* parameters) and submitit's shared ones.")
    params = {key if key in generic else f"slurm_{key}": value for key, value in options.items()}
    params.setdefault("name", "lpg-meta")
    made = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
    try:
        made.update_parameters(**params)
    except (NameError, AssertionError, TypeError, ValueError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise UserError(f"--slurm: {first.replace('slurm_', '')}") from None
    return made, tasks


class SuiteWorker:
    """One array task: a worker of the suite; requeued by submitit when preempted or timed out."""

    def __call__(self, suite: str, storage: str, only: str | None, data_root: str | None) -> dict[str, Any]:
        from lpg_meta.bench.runner import run_suite

        if data_root:
            os.environ["LPG_DATA"] = data_root
        summary = run_suite(suite, workers=1, storage=storage, only=only)
        return {"trained": summary["trained"], "trials_run": summary["trials_run"]}

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        """Called by submitit before a preemption or timeout: submit the same task again."""
        import submitit

        return submitit.helpers.DelayedSubmission(SuiteWorker(), *args, **kwargs)


def launch(suite: str | Path, options: str, storage: str | None = None, only: str | None = None) -> list[Any]:
    """Check the suite (``preflight``), then submit ``array`` workers; return submitit's jobs."""
    from lpg_meta.bench.preflight import preflight
    from lpg_meta.bench.runner import make_plan

    parsed = parse_options(options)
    plan = make_plan(suite, storage, only)
    preflight(plan, storage, dry_run=False)
    folder = plan.output / "slurm"
    made, tasks = executor(parsed, folder)
    plan.output.mkdir(parents=True, exist_ok=True)
    suite_path = str(Path(suite).resolve())
    args = [(suite_path, plan.storage, only, os.environ.get("LPG_DATA"))] * tasks
    with made.batch():
        jobs = [made.submit(SuiteWorker(), *task) for task in args]
    return jobs
