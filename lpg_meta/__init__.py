"""lpg-meta: a reproduction suite for Learning to Perturb Gradients (LPG) and its baselines.

The public API, in the order data flows: ``resolve_config`` -> ``build_data`` ->
``build_model`` / ``build_method`` -> ``lpg_meta.train.train`` -> ``result.json`` ->
``run_suite`` / ``write_leaderboards``.

Names load on first use (PEP 562): ``import lpg_meta.errors`` or ``lpg-meta --help`` must not pay
for torch and Optuna.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lpg_meta.lazy import lazy_exports

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS: dict[str, str] = {
    "DATASETS": "lpg_meta.registry",
    "METHODS": "lpg_meta.registry",
    "MODELS": "lpg_meta.registry",
    "Method": "lpg_meta.methods",
    "TrainingDivergedError": "lpg_meta.errors",
    "UserError": "lpg_meta.errors",
    "build_data": "lpg_meta.data",
    "build_method": "lpg_meta.methods",
    "build_model": "lpg_meta.models",
    "detect_collapse": "lpg_meta.collapse",
    "history_collapse": "lpg_meta.collapse",
    "parse_overrides": "lpg_meta.config",
    "perturb_logit_grad": "lpg_meta.perturb",
    "resolve_config": "lpg_meta.config",
    "run_suite": "lpg_meta.bench",
    "write_leaderboards": "lpg_meta.report",
}

__all__ = [
    "DATASETS",
    "METHODS",
    "MODELS",
    "Method",
    "TrainingDivergedError",
    "UserError",
    "__version__",
    "build_data",
    "build_method",
    "build_model",
    "detect_collapse",
    "history_collapse",
    "parse_overrides",
    "perturb_logit_grad",
    "resolve_config",
    "run_suite",
    "write_leaderboards",
]

if TYPE_CHECKING:
    from lpg_meta.bench import run_suite
    from lpg_meta.collapse import detect_collapse, history_collapse
    from lpg_meta.config import parse_overrides, resolve_config
    from lpg_meta.data import build_data
    from lpg_meta.errors import TrainingDivergedError, UserError
    from lpg_meta.methods import Method, build_method
    from lpg_meta.models import build_model
    from lpg_meta.perturb import perturb_logit_grad
    from lpg_meta.registry import DATASETS, METHODS, MODELS
    from lpg_meta.report import write_leaderboards


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
