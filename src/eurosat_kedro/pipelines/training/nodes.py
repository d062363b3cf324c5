"""Nodes of the training pipeline."""

from __future__ import annotations

import logging
import platform

import torch

from eurosat_kedro.models import ModelSpec, build_model
from eurosat_kedro.training.distributed import train_distributed
from eurosat_kedro.training.loop import TrainConfig, train
from eurosat_kedro.training.mlflow_epochs import MlflowEpochLogger

logger = logging.getLogger(__name__)


def train_model(
    train_arrays: dict,
    val_arrays: dict,
    classes: list[str],
    model_params: dict,
    training_params: dict,
) -> tuple[dict, list[dict]]:
    """Run the training loop; return the best model and the per-epoch history.

    Each epoch's metrics also reach the active MLflow run as the epoch ends (``training.*``,
    step = epoch), so a long run can be followed in the MLflow UI while it trains.
    """
    spec = ModelSpec.from_params(model_params, len(classes))
    cfg = TrainConfig.from_params(training_params, spec.to_dict())
    log_epoch = MlflowEpochLogger.for_active_run()
    if cfg.num_processes > 1 or cfg.engine != "local":  # train_distributed checks engine
        result = train_distributed(
            spec, train_arrays, val_arrays, cfg, cfg.num_processes, log_epoch
        )
    else:
        torch.manual_seed(cfg.seed)
        result = train(build_model(spec), train_arrays, val_arrays, cfg, on_epoch_end=log_epoch)
    logger.info(
        "Best val accuracy %.4f at epoch %d on %s",
        result.best_val_accuracy,
        result.best_epoch,
        result.device,
    )
    bundle = {
        "state_dict": result.best_state,
        "spec": spec.for_rebuild().to_dict(),  # rebuild without fetching weights again
        "classes": list(classes),
        "best_epoch": result.best_epoch,
        "best_val_accuracy": result.best_val_accuracy,
        "versions": {"torch": str(torch.__version__), "python": platform.python_version()},
    }
    return bundle, result.history
