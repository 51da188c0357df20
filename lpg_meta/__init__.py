"""lpg-meta: a reproduction suite for Learning to Perturb Gradients (LPG) and its baselines."""

from lpg_meta.errors import TrainingDivergedError, UserError
from lpg_meta.registry import DATASETS, METHODS, MODELS

__version__ = "0.1.0"

__all__ = ["DATASETS", "METHODS", "MODELS", "TrainingDivergedError", "UserError", "__version__"]
