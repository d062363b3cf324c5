"""Per-epoch metrics sent to the MLflow run as each epoch ends, not when training returns, and
the machine the run trains on as its tags."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .checkpoint import Progress

logger = logging.getLogger(__name__)

EPOCH_METRICS = ("train_loss", "val_loss", "val_accuracy", "lr", "images_per_second")


@dataclass(frozen=True)
class MlflowEpochLogger:
    """A training-loop callback that logs ``<prefix>.<metric>`` at step = epoch to one MLflow
    run. Plain data, so it pickles into a DDP rank's process; a resumed run continues the
    step numbering because the epoch does."""

    tracking_uri: str
    run_id: str
    prefix: str = "training"

    @classmethod
    def for_active_run(cls, prefix: str = "training") -> MlflowEpochLogger | None:
        """A logger for the run kedro-mlflow opened, or None when no run is active."""
        import mlflow

        run = mlflow.active_run()
        return cls(mlflow.get_tracking_uri(), run.info.run_id, prefix) if run else None

    def on_epoch_end(self, progress: Progress) -> None:
        self.log(progress.last)

    def log(self, record: dict[str, float]) -> None:
        """One point per metric of ``record`` at step ``record["epoch"]``."""
        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        metrics = [
            Metric(f"{self.prefix}.{key}", float(record[key]), stamp, int(record["epoch"]))
            for key in EPOCH_METRICS
        ]
        self._send(f"Epoch {record['epoch']} metrics", metrics=metrics)

    def set_tags(self, tags: dict[str, str]) -> None:
        """Tag the run (e.g. ``host.*``: the machine it trains on)."""
        from mlflow.entities import RunTag

        self._send("The run's tags", tags=[RunTag(key, value) for key, value in tags.items()])

    def _send(self, what: str, **batch) -> None:
        from mlflow import MlflowClient

        try:
            MlflowClient(self.tracking_uri).log_batch(self.run_id, **batch)
        except Exception as error:  # noqa: BLE001 - a busy or unreachable store must not end training
            logger.warning(
                "%s did not reach MLflow (%s: %s); training goes on, "
                "and the whole history is in training_history.json",
                what,
                error.__class__.__name__,
                error,
            )
