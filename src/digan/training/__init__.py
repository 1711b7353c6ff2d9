"""Training: the objective (`losses`, `augment`), the loop (`loop`: `Trainer`, `train`), processes started by
torchrun (`distributed`), the run directory (`run`) and the periodic FVD (`fvd`)."""

from .loop import RunInfo, Trainer, train, training_memory
from .losses import DiganLoss

__all__ = ["DiganLoss", "RunInfo", "Trainer", "train", "training_memory"]
