"""The MLflow side of training: per-epoch metrics sent to the run as each epoch ends (not when
training returns), the machine as the run's tags, MLflow's own system metrics while training
runs, and which run a resumed training continues."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

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


def mlflow_run_of(callbacks: Sequence[Any]) -> dict[str, str] | None:
    """The run the epochs of ``callbacks`` go to (``tracking_uri``, ``run_id``), which each
    checkpoint records; None without an ``MlflowEpochLogger``."""
    for callback in callbacks:
        if isinstance(callback, MlflowEpochLogger):
            return {"tracking_uri": callback.tracking_uri, "run_id": callback.run_id}
    return None


@contextmanager
def system_metrics(run: MlflowEpochLogger | None, interval: float) -> Iterator[None]:
    """MLflow's own system metrics (``system/cpu_utilization_percentage``,
    ``system/system_memory_usage_megabytes``, disk, network, GPU when there is one), sampled
    every ``interval`` seconds while the block runs, the steps going on after those a
    continued run already has. Nothing without a run or with ``interval`` 0.

    MLflow's ``start_run(log_system_metrics=True)`` (or its environment variable) is not used:
    kedro-mlflow reopens its run before every node, and each reopening starts one more monitor
    (Galileo-Galilei/kedro-mlflow#647, open); this one samples exactly while training runs.
    """
    if run is None or interval <= 0:
        yield
        return
    from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

    monitor = SystemMetricsMonitor(
        run.run_id, sampling_interval=interval, resume_logging=True, tracking_uri=run.tracking_uri
    )
    monitor.start()
    try:
        yield
    finally:
        monitor.finish()


def run_to_continue(
    checkpoint_path: str | None, tracking_uri: str, experiment_id: str
) -> str | None:
    """The MLflow run a training resumed from ``checkpoint_path`` continues: the one the
    checkpoint was written in, when it is in this store and experiment and not deleted.
    Otherwise None (a new run), with a warning that says why and how to continue it."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from .checkpoint import recorded_mlflow_run

    path = Path(checkpoint_path) if checkpoint_path else None
    if path is None or not path.is_file():
        return None
    recorded = recorded_mlflow_run(path)
    if not recorded:
        return _new_run(
            f"{path} records no MLflow run (written without tracking, or by an "
            "earlier version of this project)"
        )
    run_id, written_in = recorded["run_id"], recorded["tracking_uri"]
    if written_in != tracking_uri:
        return _new_run(
            f"{path} was written in MLflow run {run_id} of another store ({written_in}, this "
            f"run tracks to {tracking_uri}); to continue that run, set MLFLOW_TRACKING_URI="
            f"{written_in} (or unset it, if that is the project's mlflow.db)"
        )
    try:
        run = MlflowClient(tracking_uri).get_run(run_id)
    except MlflowException:
        return _new_run(f"MLflow run {run_id} of {path} is no longer in {tracking_uri}")
    if run.info.lifecycle_stage == "deleted":
        return _new_run(
            f"MLflow run {run_id} of {path} was deleted; to continue it, restore it "
            f"(`mlflow runs restore --run-id {run_id}`) and resume again"
        )
    if run.info.experiment_id != experiment_id:
        return _new_run(
            f"MLflow run {run_id} of {path} is in another experiment (id "
            f"{run.info.experiment_id}) than this run's (id {experiment_id}); set "
            "tracking.experiment.name in mlflow.yml to that experiment to continue it"
        )
    logger.info("Resuming from %s: continuing its MLflow run %s", path, run_id)
    return run_id


def _new_run(why: str) -> None:
    logger.warning("runtime.resume: %s. The training resumes in a new MLflow run.", why)
