"""Nodes of the training pipeline."""

from __future__ import annotations

import logging
import platform
from dataclasses import replace

import torch

from eurosat_kedro import lineage
from eurosat_kedro.models import ModelSpec, TrainedModel, build_model, load_trained_model
from eurosat_kedro.training.config import RuntimeConfig, TrainConfig
from eurosat_kedro.training.device import pick_device
from eurosat_kedro.training.distill import DistillSettings, weights_sha256
from eurosat_kedro.training.distributed import train_distributed
from eurosat_kedro.training.host import device_name, host_tags
from eurosat_kedro.training.loop import train
from eurosat_kedro.training.mlflow_epochs import MlflowEpochLogger, system_metrics

logger = logging.getLogger(__name__)


def _follow_in_mlflow(runtime: RuntimeConfig, prefix: str) -> list[MlflowEpochLogger]:
    """With an active MLflow run: tag it with the machine, and return the callback that logs
    each epoch to it as ``<prefix>.*``. Without one: nothing."""
    mlflow_run = MlflowEpochLogger.for_active_run(prefix)
    if mlflow_run is None:
        return []
    threads = runtime.num_threads or torch.get_num_threads()
    mlflow_run.set_tags(host_tags(device_name(pick_device(runtime.device)), threads))
    return [mlflow_run]


def _teacher_sha256(
    teacher_model: TrainedModel | None, classes: list[str], settings: DistillSettings
) -> str | None:
    """The teacher's weights' sha256 (None without a teacher), once it is checked to be the
    one ``training.distill`` names and to know the same classes in the same order."""
    if teacher_model is None:
        if settings.on:
            raise ValueError(
                f"training.distill.teacher is {settings.teacher!r} but the catalog's "
                "teacher_model has no file: set the teacher where both read it, "
                'globals.yml\'s distill_teacher or --params "training.distill.teacher=PATH", '
                "not in a parameters file alone"
            )
        return None
    if list(teacher_model.classes) != list(classes):
        raise ValueError(
            f"the teacher ({settings.teacher}) knows the classes {list(teacher_model.classes)}, "
            f"the data {list(classes)}: distil from a model trained on this data"
        )
    return weights_sha256(teacher_model.state_dict)


def _teacher_tags(teacher_model: TrainedModel, cfg: TrainConfig) -> dict[str, str]:
    """The MLflow tags that say which teacher the student learned from."""
    return {
        "distill.teacher": str(cfg.distillation.teacher),
        "distill.teacher_sha256": str(cfg.teacher_sha256),
        "distill.teacher_model": teacher_model.spec.name,
        "distill.teacher_best_epoch": str(teacher_model.best_epoch),
        "distill.teacher_best_val_accuracy": str(teacher_model.best_val_accuracy),
    }


def train_model(
    train_arrays: dict,
    val_arrays: dict,
    classes: list[str],
    teacher_model: TrainedModel | None,
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

    With ``training.distill.teacher`` set, ``teacher_model`` (that file; None otherwise)
    teaches the student, through ``DihedralTTA`` when ``training.distill.tta``, and the run
    is tagged with it (``distill.*``: path, weights' sha256, best validation accuracy).
    """
    spec = ModelSpec.from_params(model_params, len(classes))
    cfg = TrainConfig.from_params(training_params, spec.to_dict())
    cfg = replace(cfg, teacher_sha256=_teacher_sha256(teacher_model, classes, cfg.distillation))
    runtime = RuntimeConfig.from_params(runtime_params)
    return _train(train_arrays, val_arrays, classes, spec, cfg, runtime, "training", teacher_model)


def train_teacher(
    train_arrays: dict,
    val_arrays: dict,
    classes: list[str],
    model_params: dict,
    training_params: dict,
    runtime_params: dict,
) -> tuple[TrainedModel, list[dict]]:
    """Train the teacher of a distillation: the ``training`` recipe without its teacher (the
    teacher learns from the labels alone), so teacher and student share one recipe and one
    architecture. Checkpoints go to ``runtime.teacher_checkpoint_path`` and each epoch to
    MLflow as ``teacher.*``; otherwise as ``train_model``. Its output is the catalog's
    ``teacher_model``, the file ``training.distill.teacher`` names, which the student's
    ``train_model`` then learns from.
    """
    spec = ModelSpec.from_params(model_params, len(classes))
    cfg = TrainConfig.from_params(training_params, spec.to_dict())
    if not cfg.distillation.on:
        raise ValueError(
            "the teacher pipeline trains the teacher of a distillation, but "
            "training.distill.teacher is null: name the teacher's file, e.g. `kedro run --env "
            'distill` or --params "training.distill.teacher=data/06_models/teacher.pt"'
        )
    runtime = RuntimeConfig.from_params(runtime_params).for_teacher()
    return _train(
        train_arrays, val_arrays, classes, spec, cfg.without_teacher(), runtime, "teacher", None
    )


def _train(
    train_arrays: dict,
    val_arrays: dict,
    classes: list[str],
    spec: ModelSpec,
    cfg: TrainConfig,
    runtime: RuntimeConfig,
    mlflow_prefix: str,
    teacher_model: TrainedModel | None,
) -> tuple[TrainedModel, list[dict]]:
    """Train ``cfg`` on ``runtime``, each epoch to MLflow as ``<mlflow_prefix>.*``."""
    teacher = None
    if teacher_model is not None:
        teacher = load_trained_model(teacher_model, cfg.distillation.tta)
    callbacks = _follow_in_mlflow(runtime, mlflow_prefix)
    mlflow_run = callbacks[0] if callbacks else None
    if mlflow_run and teacher_model is not None:
        mlflow_run.set_tags(_teacher_tags(teacher_model, cfg))
    with system_metrics(mlflow_run, runtime.system_metrics_interval):
        if runtime.num_processes > 1 or runtime.engine != "local":
            result = train_distributed(
                spec, train_arrays, val_arrays, cfg, runtime, callbacks, teacher
            )
        else:
            torch.manual_seed(cfg.seed)
            model = build_model(spec)
            result = train(
                model, train_arrays, val_arrays, cfg, runtime, callbacks=callbacks, teacher=teacher
            )
    logger.info(
        "%s: best val accuracy %.4f at epoch %d on %s",
        mlflow_prefix.capitalize(),
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
