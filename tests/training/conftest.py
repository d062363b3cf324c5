"""Helpers of the training tests: small recipes and runtimes, and a callback that DDP ranks can
unpickle without importing a test module's heavier imports."""

from __future__ import annotations

import shutil
from pathlib import Path

from eurosat_kedro.training.checkpoint import Progress
from eurosat_kedro.training.config import RuntimeConfig, TrainConfig


def config(**overrides) -> TrainConfig:
    """A short recipe: 3 epochs of batch 16, seed 0."""
    params = {"epochs": 3, "batch_size": 16, "lr": 3e-3, "seed": 0, "warmup_fraction": 0.3}
    return TrainConfig(**{**params, **overrides})


def runtime(**overrides) -> RuntimeConfig:
    """One thread, whatever the machine."""
    return RuntimeConfig(**{"num_threads": 1, **overrides})


class CopyCheckpointAfter:
    """After epoch ``epoch``, a copy of the run's checkpoint at ``copy``: what a run killed
    then would have left behind."""

    def __init__(self, epoch: int, checkpoint: Path, copy: Path):
        self.epoch, self.checkpoint, self.copy = epoch, checkpoint, copy

    def on_epoch_end(self, progress: Progress) -> None:
        if progress.epoch == self.epoch:
            shutil.copy(self.checkpoint, self.copy)
