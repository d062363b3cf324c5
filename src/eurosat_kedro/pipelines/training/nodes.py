"""Nodes of the training pipeline."""

from __future__ import annotations

import logging
import platform

import torch

from eurosat_kedro import lineage
from eurosat_kedro.models import ModelSpec, TrainedModel, build_model
from eurosat_kedro.training.config import RuntimeConfig, TrainConfig
from eurosat_kedro.training.device import pick_device
from eurosat_kedro.training.distributed import train_distributed
from eurosat_kedro.training.host import device_name, host_tags
from eurosat_kedro.training.loop import train
from eurosat_kedro.training.mlflow_epochs import MlflowEpochLogger, system_metrics

logger = logging.getLogger(__name__)


def _follow_in_mlflow(runtime: RuntimeConfig) -> list[MlflowEpochLogger]:
    """With an active MLflow run: tag it with the machine, and return the callback that logs
    each epoch to it. Without one: nothing."""
    mlflow_run = MlflowEpochLogger.for_active_run()
    if mlflow_run is None:
        return []
    threads = runtime.num_threads or torch.get_num_threads()
    mlflow_run.set_tags(host_tags(device_name(pick_device(runtime.device)), threads))
    return [mlflow_run]


def train_model(
    train_arrays: dict,
    val_arrays: dict,
    classes: list[str],
    model_params: dict,
    training_params: dict,
    runtime_params: dict,
) -> tuple[TrainedModel, list[dict]]:
    """Train the ``training`` recipe on the ``runtime`` machine; return the best model and
    the per-epoch history.

    With an active MLflow run, the run is tagged with the machine (``host.*``), each epoch's
    metrics reach it as the epoch ends (``training.*``, step = epoch) and MLflow samples the
    machine's load (``system/*``, every ``runtime.system_metrics_interval`` seconds), so a
    long run can be followed in the MLflow UI while it trains.
    """
    spec = ModelSpec.from_params(model_params, len(classes))
    cfg = TrainConfig.from_params(training_params, spec.to_dict())
    runtime = RuntimeConfig.from_params(runtime_params)
    callbacks = _follow_in_mlflow(runtime)
    mlflow_run = callbacks[0] if callbacks else None
    with system_metrics(mlflow_run, runtime.system_metrics_interval):
        if runtime.num_processes > 1 or runtime.engine != "local":
            result = train_distributed(spec, train_arrays, val_arrays, cfg, runtime, callbacks)
        else:
            torch.manual_seed(cfg.seed)
            model = build_model(spec)
            result = train(model, train_arrays, val_arrays, cfg, runtime, callbacks=callbacks)
    logger.info(
        "Best val accuracy %.4f at epoch %d on %s",
        result.best_val_accuracy,
        result.best_epoch,
        result.device,
    )
    trained = TrainedModel(
        state_dict=result.best_state,
        spec=spec.for_rebuild(),  # rebuild without fetching weights again
        classes=tuple(classes),
        best_epoch=result.best_epoch,
        best_val_accuracy=result.best_val_accuracy,
        versions={"torch": str(torch.__version__), "python": platform.python_version()},
    )
    return trained, result.history


def log_training_data(train_arrays: dict, val_arrays: dict, data_report: dict) -> None:
    """Log the train and val splits, with the archive they came from, as inputs of the MLflow
    run (contexts ``training`` and ``validation``): the run's Datasets tab."""
    lineage.log_splits({"train": train_arrays, "val": val_arrays}, data_report.get("source"))
