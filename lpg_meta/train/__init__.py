"""Training: the loop, checkpoints, optimizer schedules, metrics, progress and saved models."""

from lpg_meta.train.saved import evaluate_saved, load_model
from lpg_meta.train.trainer import TrainingDivergedError, train

__all__ = ["TrainingDivergedError", "evaluate_saved", "load_model", "train"]
