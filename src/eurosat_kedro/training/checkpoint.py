"""What a run carries from one epoch to the next, and the checkpoint that saves all of it, so
a killed run resumes and ends exactly where an uninterrupted one would."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from eurosat_kedro.files import atomic_path

from .config import RuntimeConfig, TrainConfig

logger = logging.getLogger(__name__)


@dataclass
class ResumableState:
    """Everything besides the weights that training changes step by step: the optimiser, the
    learning-rate schedule, the fp16 gradient scaler, the generator of the shuffles and
    augmentations, and the weights' moving average (when ``ema_decay`` > 0)."""

    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler
    generator: torch.Generator
    ema: AveragedModel | None = None

    def state_dict(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        if saved["scaler"]:  # empty when written without fp16 (e.g. on a CPU)
            self.scaler.load_state_dict(saved["scaler"])
        if self.ema is not None:
            self.ema.load_state_dict(saved["ema"])
        self.generator.set_state(saved["generator"])


@dataclass
class Progress:
    """Where the run is: the history, the best epoch so far, and whether to stop. Callbacks
    read it at the end of each epoch; ``EarlyStopping`` sets ``should_stop``."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_state: dict[str, torch.Tensor] | None = None
    best_acc: float = -1.0
    best_epoch: int = 0
    stale: int = 0  # epochs since the best
    epoch: int = 0  # epochs done
    should_stop: bool = False

    @property
    def last(self) -> dict[str, float]:
        """The record of the epoch that just ended."""
        return self.history[-1]

    def add(self, record: dict[str, float], model: nn.Module) -> None:
        self.history.append(record)
        self.epoch = int(record["epoch"])
        if record["val_accuracy"] > self.best_acc:
            self.best_acc, self.best_epoch, self.stale = record["val_accuracy"], self.epoch, 0
            self.best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        else:
            self.stale += 1


def save_checkpoint(
    path: Path,
    model: nn.Module,
    state: ResumableState,
    progress: Progress,
    cfg: TrainConfig,
    mlflow_run: dict[str, str] | None = None,
) -> None:
    """Weights, resumable state, RNG, progress, the recipe and the MLflow run the epochs go to
    (``tracking_uri``, ``run_id``; None without one), written atomically."""
    checkpoint = {
        "model": model.state_dict(),
        **state.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "history": progress.history,
        "best_state": progress.best_state,
        "best_acc": progress.best_acc,
        "best_epoch": progress.best_epoch,
        "stale": progress.stale,
        "epoch": progress.epoch,
        "config": cfg.fingerprint(),
        "mlflow_run": mlflow_run,
    }
    with atomic_path(path) as tmp:
        torch.save(checkpoint, tmp)


def _refuse_other_recipe(path: Path, saved: dict, now: dict) -> None:
    changed = sorted(key for key in saved.keys() | now.keys() if saved.get(key) != now.get(key))
    if changed:
        raise ValueError(
            f"Cannot resume from {path}: it was written with different training parameters "
            f"({', '.join(changed)}), or by an earlier version of the training loop. Use the "
            "same parameters, or set runtime.resume=false to start afresh."
        )


def resume_or_start(
    runtime: RuntimeConfig,
    model: nn.Module,
    state: ResumableState,
    cfg: TrainConfig,
    device: torch.device,
) -> Progress:
    """With ``runtime.resume`` and a checkpoint at ``runtime.checkpoint_path``, load it into
    ``model`` and ``state`` (refused when another recipe wrote it) and return its progress;
    else a fresh start."""
    path = Path(runtime.checkpoint_path) if runtime.checkpoint_path else None
    if not (runtime.resume and path is not None and path.is_file()):
        if runtime.resume:
            logger.info("runtime.resume is set but there is no checkpoint yet; starting afresh")
        return Progress()
    saved = torch.load(path, map_location=device, weights_only=True)
    _refuse_other_recipe(path, saved["config"], cfg.fingerprint())
    model.load_state_dict(saved["model"])
    state.load_state_dict(saved)
    torch.set_rng_state(saved["torch_rng"])
    logger.info("Resumed from %s after epoch %d", path, saved["epoch"])
    fields = ("history", "best_state", "best_acc", "best_epoch", "stale", "epoch")
    return Progress(**{key: saved[key] for key in fields})


def recorded_mlflow_run(path: Path) -> dict[str, str] | None:
    """The MLflow run (``tracking_uri``, ``run_id``) the checkpoint at ``path`` was written
    in; None when it was written without one or by a version that did not record it."""
    saved = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    return saved.get("mlflow_run")
