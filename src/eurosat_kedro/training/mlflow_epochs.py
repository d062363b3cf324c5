"""Per-epoch metrics sent to the MLflow run as each epoch ends, not when training returns."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

logger = logging.getLogger(__name__)

EPOCH_METRICS = ("train_loss", "val_loss", "val_accuracy", "lr", "images_per_second")


@dataclass(frozen=True)
class MlflowEpochLogger:
    """An ``on_epoch_end`` callback for the training loop: logs ``<prefix>.<metric>`` at
    step = epoch to one MLflow run. Plain data, so it pickles into a DDP rank's process;
    a resumed run continues the step numbering because the epoch does."""

    tracking_uri: str
    run_id: str
    prefix: str = "training"

    @classmethod
    def for_active_run(cls, prefix: str = "training") -> MlflowEpochLogger | None:
        """A logger for the run kedro-mlflow opened, or None when no run is active."""
        import mlflow

        run = mlflow.active_run()
        return cls(mlflow.get_tracking_uri(), run.info.run_id, prefix) if run else None

    def __call__(self, record: dict[str, float]) -> None:
        from mlflow import MlflowClient
        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        metrics = [
            Metric(f"{self.prefix}.{key}", float(record[key]), stamp, int(record["epoch"]))
            for key in EPOCH_METRICS
        ]
        try:
            MlflowClient(self.tracking_uri).log_batch(self.run_id, metrics=metrics)
        except Exception as error:  # noqa: BLE001 - a busy or unreachable store must not end training
            logger.warning(
                "Epoch %d metrics did not reach MLflow (%s: %s); training goes on, "
                "and the whole history is in training_history.json",
                record["epoch"],
                error.__class__.__name__,
                error,
            )
