"""The work at the end of each epoch, as small callbacks beside the loop (as Lightning's):
logging, the checkpoint, early stopping. ``MlflowEpochLogger`` (``mlflow_epochs``) is one
more. Each gets the run's ``Progress`` after the epoch's record was added."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from torch import nn

from .checkpoint import Progress, ResumableState, save_checkpoint
from .config import TrainConfig

logger = logging.getLogger(__name__)


class Callback(Protocol):
    def on_epoch_end(self, progress: Progress) -> None: ...


@dataclass(frozen=True)
class EpochLog:
    """One log line per epoch: losses, accuracy, learning rate, speed, time."""

    epochs: int

    def on_epoch_end(self, progress: Progress) -> None:
        record = progress.last
        logger.info(
            "epoch %d/%d: train loss %.4f, val loss %.4f, val acc %.4f, lr %.2e, "
            "%.0f img/s, %.0f s",
            record["epoch"],
            self.epochs,
            record["train_loss"],
            record["val_loss"],
            record["val_accuracy"],
            record["lr"],
            record["images_per_second"],
            record["epoch_seconds"],
        )


@dataclass(frozen=True)
class Checkpoint:
    """Save everything a resume needs at ``path`` after every epoch, with the MLflow run the
    epochs go to (``mlflow_run``), so a resumed run can continue that run."""

    path: Path
    model: nn.Module
    state: ResumableState
    cfg: TrainConfig
    mlflow_run: dict[str, str] | None = None

    def on_epoch_end(self, progress: Progress) -> None:
        save_checkpoint(self.path, self.model, self.state, progress, self.cfg, self.mlflow_run)


@dataclass(frozen=True)
class EarlyStopping:
    """Stop after ``patience`` epochs without a val-accuracy gain; 0 never stops."""

    patience: int

    def on_epoch_end(self, progress: Progress) -> None:
        if self.patience and progress.stale >= self.patience:
            logger.info("No val-accuracy gain for %d epochs: stopping early", progress.stale)
            progress.should_stop = True
