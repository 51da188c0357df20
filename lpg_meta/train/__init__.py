"""Training: the loop, optimizer schedules, metrics and progress reporting."""

from lpg_meta.train.trainer import TrainingDivergedError, train

__all__ = ["TrainingDivergedError", "train"]
