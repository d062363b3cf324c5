"""Nodes of the training pipeline."""

from __future__ import annotations

import logging
import platform
from pathlib import Path

import torch

from eurosat_kedro.models import build_model
from eurosat_kedro.training.distributed import train_distributed
from eurosat_kedro.training.loop import TrainConfig, train

logger = logging.getLogger(__name__)


def model_spec(model_params: dict, classes: list[str]) -> dict:
    """Keyword arguments of ``build_model`` from the ``model`` parameters."""
    spec = {"num_classes": len(classes), **model_params}
    return {k: spec[k] for k in ("name", "num_classes", "image_size", "pretrained",
                                 "weights_path", "stem", "width", "dropout") if k in spec}


def train_model(train_arrays: dict, val_arrays: dict, classes: list[str], model_params: dict,
                training_params: dict) -> tuple[dict, dict, list[dict]]:
    """Run the training loop; return the best model, its metric history for MLflow, and the
    per-epoch history as a table."""
    spec = model_spec(model_params, classes)
    cfg = TrainConfig.from_params(training_params)
    cfg.model_spec = dict(spec)
    checkpoint = training_params.get("checkpoint_path")
    checkpoint = Path(checkpoint) if checkpoint else None
    if cfg.num_processes > 1:
        result = train_distributed(spec, train_arrays, val_arrays, cfg, checkpoint,
                                   cfg.num_processes)
    else:
        torch.manual_seed(cfg.seed)
        result = train(build_model(**spec), train_arrays, val_arrays, cfg, checkpoint)
    logger.info("Best val accuracy %.4f at epoch %d on %s", result.best_val_accuracy,
                result.best_epoch, result.device)
    bundle = {
        "state_dict": result.best_state,
        "spec": {**spec, "pretrained": False, "weights_path": None},  # rebuild without fetching
        "classes": list(classes),
        "best_epoch": result.best_epoch,
        "best_val_accuracy": result.best_val_accuracy,
        "versions": {"torch": str(torch.__version__), "python": platform.python_version()},
    }
    metric_history = {
        key: [{"step": row["epoch"], "value": float(row[key])} for row in result.history]
        for key in ("train_loss", "val_loss", "val_accuracy", "lr", "images_per_second")
    }
    return bundle, metric_history, result.history
