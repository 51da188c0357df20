"""The result format: what ``result.json`` holds, how it is written, and what names a run.

One module owns it, so a metric, a history column or an identity rule is added once: metric
names and which way is better, the per-epoch history keys, the shot groups, the atomic write
(and the check, before a run, that its folder can be written),
provenance (versions, git commit, CPU and torch build), and ``config_hash`` (which settings make a run's identity).
No torch here: the report and the command line read results without the training stack.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any, BinaryIO

from lpg_meta.config import identity
from lpg_meta.errors import UserError

PACKAGES = ("lpg-meta", "torch", "torchvision", "higher", "numpy", "optuna", "mnist1d", "scikit-learn")


def _umask() -> int:
    """The process umask, read without changing it where the system allows."""
    try:  # Linux: reading it leaves no window in which another thread creates files with mask 0
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Write a file whole or not at all: a reader (or a crash) never sees half a file.

    ``write`` fills a temporary file in the same folder, which is fsynced, then renamed over
    ``path``; a killed writer leaves only ``.NAME.*.tmp``. The file gets the mode a plain
    ``open(path, "w")`` would give (0666 less the umask), not mkstemp's 0600, so collaborators
    sharing an output folder can read it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` with ``write_atomic``."""
    return write_atomic(path, lambda handle: handle.write(text.encode()))


def remove_stray_temps(folder: str | os.PathLike, name: str) -> None:
    """Remove the temporary files ``write_atomic`` left for ``name`` (writers killed mid-write).

    Only for a folder this process owns: another live writer's temporary file would go too.
    """
    for stray in Path(folder).glob(f".{name}.*.tmp"):
        stray.unlink(missing_ok=True)


def write_json_atomic(path: str | os.PathLike, payload: Any) -> Path:
    """Write ``payload`` as indented JSON with ``write_text_atomic`` (NaN refused: not JSON)."""
    return write_text_atomic(path, json.dumps(payload, indent=2, allow_nan=False) + "\n")


def _nearest_existing(path: Path) -> Path:
    """``path`` or its closest ancestor that exists (a dangling link counts as existing)."""
    path = path.absolute()
    while not os.path.lexists(path) and path != path.parent:
        path = path.parent
    return path


def writable_folder(path: Path, key: str, prefix: str = "") -> None:
    """Raise ``UserError`` unless ``path`` is, or can be created as, a folder this process can write.

    Args:
        path: the folder (it need not exist).
        key: the setting or flag that named it (``output``, ``--out``).
        prefix: put before the message (the suite file, for suite keys).
    """
    path = Path(path).expanduser()
    existing = _nearest_existing(path)
    if not existing.is_dir():
        below = "" if existing == path.absolute() else f", so {path} cannot be created"
        raise UserError(f"{prefix}{key}: {existing} is not a folder (it is a file){below}; "
                        f"point {key} elsewhere, or move that file away.")
    needed = "" if existing == path.absolute() else f" (needed to create {path})"
    reason = None if os.access(existing, os.W_OK | os.X_OK) else "permission denied"
    if reason is None:
        # os.access says yes to root everywhere; a file made and removed at once also catches
        # special and root-squashed folders, and leaves nothing behind.
        try:
            fd, probe = tempfile.mkstemp(prefix=".lpg-meta-probe-", dir=existing)
            os.close(fd)
            os.unlink(probe)
        except OSError as err:
            reason = err.strerror or str(err)
    if reason is not None:
        raise UserError(f"{prefix}{key}: {existing} is not writable ({reason}){needed}; point {key} at a place "
                        "you can write, or fix its permissions.")


def library_versions() -> dict[str, str | None]:
    """Installed versions of the packages a result depends on."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


RESULT_NAME = "result.json"
CERTIFICATES_NAME = "certificates.csv"  # a results folder's optimised PAC-Bayes certificates (lpg-meta certify)
# A tuned cell's trials, ROW/METHOD/TUNING_DIR: each trial's log (one per trial started) and its result per
# tuning seed. The tuning sampler draws its first RANDOM_START_TRIALS trials at random from a seed fixed by the
# suite and the cell, blind to the data; later trials are guided by earlier scores. A certificate's union
# bound can therefore cover the choice among a cell's trials only where there are no more of them than that.
TUNING_DIR = "tuning"
RANDOM_START_TRIALS = 10


TRIAL_LOGS = "trial*.log"  # every trial_log_name, as a glob


def trial_log_name(number: int) -> str:
    return f"trial{number:03d}.log"


def trial_result_name(number: int, seed: int) -> str:
    return f"trial{number:03d}_seed{seed}.json"


# A finished run: a diverged run is deterministic, so re-running it diverges again.
DONE_STATUSES = ("ok", "diverged")

# The metrics of an evaluated split (``classification_metrics``) and their better direction.
METRIC_DIRECTIONS: dict[str, str] = {
    "balanced_accuracy": "maximize",
    "accuracy": "maximize",
    "error": "minimize",
    "nll": "minimize",
    "ece": "minimize",
    "many_shot": "maximize",
    "medium_shot": "maximize",
    "few_shot": "maximize",
}
LOWER_IS_BETTER = frozenset(m for m, d in METRIC_DIRECTIONS.items() if d == "minimize")
SHOT_GROUPS = ("many_shot", "medium_shot", "few_shot")  # accuracy over classes by train count
PER_EPOCH_METRICS = ("accuracy", "balanced_accuracy")  # what ``history`` records per split


def history_key(split: str, metric: str) -> str:
    """The key of ``metric`` on ``split`` in each ``history`` record, e.g. ``val_accuracy``."""
    return f"{split}_{metric}"


def shot_groups(
    train_counts: list[int], many_threshold: int = 100, few_threshold: int = 20
) -> dict[str, list[int]]:
    """Split classes by training count: many (> many), few (< few), medium (the rest, inclusive)."""
    if few_threshold > many_threshold:
        raise ValueError(f"few_threshold {few_threshold} is above many_threshold {many_threshold}")
    groups: dict[str, list[int]] = {group: [] for group in SHOT_GROUPS}
    for c, count in enumerate(train_counts):
        if count > many_threshold:
            groups["many_shot"].append(c)
        elif count < few_threshold:
            groups["few_shot"].append(c)
        else:
            groups["medium_shot"].append(c)
    return groups


def config_hash(cfg: dict[str, Any]) -> str:
    """A stable key of a resolved configuration, without the settings declared never part of a run's
    identity (``identity: never``, ``lpg_meta.params``)."""
    return hashlib.sha256(json.dumps(identity(cfg), sort_keys=True).encode()).hexdigest()[:16]


def load_finished_file(path: str | os.PathLike, cfg: dict[str, Any]) -> dict[str, Any] | None:
    """The result JSON at ``path`` if it is a finished run of exactly ``cfg``; else None."""
    try:
        result = json.loads(Path(path).read_text())
        if result.get("status") in DONE_STATUSES and config_hash(result["config"]) == config_hash(cfg):
            return result
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass  # missing, partial or foreign: to be trained again and replaced atomically
    return None


def git_commit() -> dict[str, Any]:
    """The commit of the source tree this package runs from, and whether it had local edits."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here, capture_output=True, text=True, timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": None, "git_dirty": None}
    return {"git_commit": commit or None, "git_dirty": bool(dirty)}


# The instruction sets that change float results: bf16 is native with avx512_bf16 / amx, emulated
# in float32 without them; AVX-512 and AVX2 kernels sum in different orders.
CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def cpu_info() -> dict[str, Any]:
    """The CPU model and the instruction-set flags that move numbers between machines."""
    fields: dict[str, str] = {}
    try:  # Linux; elsewhere platform.processor() is the best there is
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())  # the first processor's
    except OSError:
        pass
    model = fields.get("model name") or platform.processor() or None
    flags = set(fields.get("flags", "").split())
    return {"model": model, "machine": platform.machine(), "cores": os.cpu_count(),
            "flags": [f for f in CPU_FLAGS if f in flags]}


def torch_build() -> dict[str, Any]:
    """How torch was built and which CPU kernels it picked (BLAS, oneDNN, AVX level)."""
    import torch  # here: the report layer imports this module and must not need torch

    lines = [line.strip(" -") for line in torch.__config__.show().splitlines() if line.strip(" -")]
    settings_line = next((line for line in lines if line.startswith("Build settings:")), "")
    # "Build settings: A=x, B=y, ..." (values hold commas, but never a comma and a space)
    settings = dict(item.strip().split("=", 1) for item in settings_line.partition(":")[2].split(", ") if "=" in item)
    return {
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),  # DEFAULT, AVX2 or AVX512
        "blas": settings.get("BLAS_INFO"),
        "lapack": settings.get("LAPACK_INFO"),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "mkl": torch.backends.mkl.is_available(),
        "commit": settings.get("COMMIT_SHA"),
        "threads": torch.get_num_threads(),
        # compiler, MKL, oneDNN (MKL-DNN) versions, OpenMP...; the long flag line is left out
        "libraries": [line for line in lines[1:] if line is not settings_line],
    }


def provenance() -> dict[str, Any]:
    """Everything needed to tell which code, libraries and machine produced a result."""
    return {"versions": library_versions(), **git_commit(), "platform": platform.platform(),
            "cpu": cpu_info(), "torch_build": torch_build()}
