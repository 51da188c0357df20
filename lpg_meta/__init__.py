"""lpg-meta: a reproduction suite for Learning to Perturb Gradients (LPG) and its baselines.

The public API, in the order data flows: ``resolve_config`` -> ``build_data`` ->
``build_model`` / ``build_method`` -> ``lpg_meta.train.train`` -> ``result.json`` ->
``run_suite`` / ``write_leaderboards``.
"""

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

__version__ = "0.1.0"

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
