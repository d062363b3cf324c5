"""A plain PyTorch training loop: cached arrays in, best-by-validation weights and history out.

``train`` sets up the machine (``Placement``), builds what the steps change
(``ResumableState``), then runs epochs; the end-of-epoch work (log, checkpoint, MLflow, early
stop) is done by callbacks (``callbacks.py``). Every epoch writes a checkpoint, so a killed run
resumes and ends exactly where an uninterrupted one would.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm.auto import tqdm

from .augment import augment_batch, flips_and_turns_only, mix_batch
from .callbacks import Callback, Checkpoint, EarlyStopping, EpochLog
from .checkpoint import ResumableState, resume_or_start
from .config import RuntimeConfig, TrainConfig
from .device import Placement, seed_everything
from .distill import Teacher, teacher_for
from .mlflow_epochs import mlflow_run_of

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    best_state: dict[str, torch.Tensor]
    history: list[dict[str, float]]
    best_epoch: int
    best_val_accuracy: float
    device: str


def _optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=True)
    raise ValueError(f"training.optimizer must be 'adamw' or 'sgd', got {cfg.optimizer!r}")


def _scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int):
    total = cfg.epochs * steps_per_epoch
    if cfg.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=cfg.lr, total_steps=total, pct_start=cfg.warmup_fraction
        )
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
    if cfg.schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    raise ValueError(
        f"training.schedule must be onecycle, cosine or constant, got {cfg.schedule!r}"
    )


def _resumable_state(
    model: nn.Module, cfg: TrainConfig, placement: Placement, steps_per_epoch: int
) -> ResumableState:
    optimizer = _optimizer(model, cfg)
    scheduler = _scheduler(optimizer, cfg, steps_per_epoch)
    ema = None
    if cfg.ema_decay:
        averaging = get_ema_multi_avg_fn(cfg.ema_decay)
        ema = AveragedModel(model, multi_avg_fn=averaging, use_buffers=True)
    return ResumableState(
        optimizer=optimizer,
        scheduler=scheduler,
        scaler=torch.amp.GradScaler("cuda", enabled=placement.amp_dtype == torch.float16),
        generator=torch.Generator().manual_seed(cfg.seed),
        ema=ema,
    )


def _unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel wrapper, or the model itself."""
    return model.module if hasattr(model, "module") else model


@dataclass
class _Trainer:
    """One run's fixed pieces, and an epoch of training or of validation with them. With
    ``world_size > 1`` each rank takes its share of every batch."""

    model: nn.Module  # DistributedDataParallel-wrapped with world_size > 1
    criterion: nn.Module
    state: ResumableState
    placement: Placement
    cfg: TrainConfig
    rank: int = 0
    world_size: int = 1
    teacher: Teacher | None = None  # distillation: its logits on each batch join the loss

    @property
    def kept(self) -> nn.Module:
        """The weights validated and kept: the moving average when there is one."""
        return self.state.ema.module if self.state.ema is not None else _unwrap(self.model)

    def train_epoch(self, x: torch.Tensor, y: torch.Tensor, desc: str) -> tuple[float, int]:
        """One pass over the shuffled split; the mean loss and the images this rank saw."""
        self.model.train()
        batch = min(self.cfg.batch_size, len(x))
        steps = len(x) // batch  # the partial last batch is dropped (BatchNorm needs > 1 image)
        order = torch.randperm(len(x), generator=self.state.generator)
        loss_sum, seen, started = 0.0, 0, time.perf_counter()
        bar = tqdm(range(steps), desc=desc, leave=False, disable=None if self.rank == 0 else True)
        for step in bar:
            idx = order[step * batch : (step + 1) * batch][self.rank :: self.world_size]
            idx = idx.to(x.device)
            loss_sum += self._step(x[idx], y[idx], idx) * len(idx)
            seen += len(idx)
            if step % 10 == 0 or step == steps - 1:
                rate = seen * self.world_size / (time.perf_counter() - started)
                bar.set_postfix(loss=f"{loss_sum / seen:.4f}", img_s=f"{rate:.0f}")
        bar.close()
        return loss_sum / max(seen, 1), seen

    def _step(self, images: torch.Tensor, labels: torch.Tensor, indices: torch.Tensor) -> float:
        """Augment and mix one batch (the training images at ``indices``), then forward,
        backward and update; the batch's loss."""
        state, criterion = self.state, self.criterion
        images = augment_batch(images, state.generator, self.cfg.augment)
        mixed = mix_batch(images, state.generator, **self.cfg.mixing)
        if mixed is not None:
            images = mixed.images
        images = images.contiguous(memory_format=self.placement.memory_format)
        with self.placement.autocast():
            logits = self.model(images)
            loss = criterion(logits, labels)
            if mixed is not None:
                partner_loss = criterion(logits, labels[mixed.partner])
                loss = mixed.share * loss + (1 - mixed.share) * partner_loss
            if self.teacher is not None:
                unmixed = indices if mixed is None else None  # a remembered teacher's key
                loss = self.teacher.blend(logits, images, loss, unmixed)
        state.optimizer.zero_grad(set_to_none=True)
        state.scaler.scale(loss).backward()
        state.scaler.step(state.optimizer)
        state.scaler.update()
        state.scheduler.step()
        if state.ema is not None:
            state.ema.update_parameters(_unwrap(self.model))
        return loss.item()

    def validate(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
        """The mean loss and the accuracy on a split, in batches of ``eval_batch_size``."""
        model = self.state.ema.module if self.state.ema is not None else self.model
        model.eval()
        loss_sum, correct, size = 0.0, 0, self.cfg.eval_batch_size
        with torch.no_grad():
            for start in range(0, len(x), size):
                xb, yb = x[start : start + size], y[start : start + size]
                with self.placement.autocast():
                    logits = model(xb)
                loss_sum += float(self.criterion(logits.float(), yb)) * len(xb)
                correct += int((logits.argmax(1) == yb).sum())
        return loss_sum / max(len(x), 1), correct / max(len(x), 1)


def _callbacks(
    trainer: _Trainer, runtime: RuntimeConfig, extra: Sequence[Callback]
) -> list[Callback]:
    """Rank 0 logs, checkpoints and runs ``extra``; every rank stops early together."""
    stopping = EarlyStopping(trainer.cfg.patience)
    if trainer.rank != 0:
        return [stopping]
    own: list[Callback] = [EpochLog(trainer.cfg.epochs)]
    if runtime.checkpoint_path:
        path, bare = Path(runtime.checkpoint_path), _unwrap(trainer.model)
        own.append(Checkpoint(path, bare, trainer.state, trainer.cfg, mlflow_run_of(extra)))
    return [*own, *extra, stopping]


def train(
    model: nn.Module,
    train_data: dict,
    val_data: dict,
    cfg: TrainConfig,
    runtime: RuntimeConfig | None = None,
    *,
    callbacks: Sequence[Callback] = (),
    rank: int = 0,
    world_size: int = 1,
    teacher: nn.Module | None = None,
) -> TrainResult:
    """Train ``model`` with recipe ``cfg`` on ``train_data`` (``images`` uint8 NHWC,
    ``labels``), on the machine ``runtime`` describes; keep the weights with the best
    validation accuracy.

    Each epoch ends with the log line, the checkpoint (``runtime.checkpoint_path``), then
    ``callbacks`` (rank 0 only; e.g. live MLflow metrics), then early stopping. With
    ``world_size > 1`` (inside an initialised process group) ``model`` must already be
    wrapped in DistributedDataParallel. ``teacher`` is the network a distilling recipe
    (``cfg.distill``) learns from (e.g. a trained model in ``DihedralTTA``); every rank holds
    its own copy.
    """
    runtime = runtime or RuntimeConfig()
    seed_everything(cfg.seed)
    placement = Placement.for_runtime(runtime)
    model.to(placement.device, memory_format=placement.memory_format)
    bare = _unwrap(model)
    x_train, y_train = placement.tensors(train_data)
    x_val, y_val = placement.tensors(val_data)
    if len(x_train) == 0:
        raise ValueError("the training split is empty: run the data_processing pipeline first")
    steps_per_epoch = len(x_train) // min(cfg.batch_size, len(x_train))
    state = _resumable_state(bare, cfg, placement, steps_per_epoch)
    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    distiller = teacher_for(teacher, cfg, placement, runtime.compile_teacher)
    if (
        distiller
        and runtime.remember_teacher
        and distiller.flip_invariant
        and flips_and_turns_only(cfg.augment)
    ):
        distiller.remember(x_train, placement, min(cfg.batch_size, len(x_train)))
    trainer = _Trainer(model, criterion, state, placement, cfg, rank, world_size, distiller)
    progress = resume_or_start(runtime, bare, state, cfg, placement.device)
    epoch_ends = _callbacks(trainer, runtime, callbacks)

    for epoch in range(progress.epoch + 1, cfg.epochs + 1):
        started = time.perf_counter()
        train_loss, seen = trainer.train_epoch(x_train, y_train, f"epoch {epoch}/{cfg.epochs}")
        train_seconds = time.perf_counter() - started
        val_loss, val_acc = trainer.validate(x_val, y_val)
        record = {
            "epoch": epoch,
            "train_loss": train_loss,
            "val_loss": val_loss,
            "val_accuracy": val_acc,
            "lr": state.optimizer.param_groups[0]["lr"],
            "epoch_seconds": time.perf_counter() - started,
            "images_per_second": seen * world_size / train_seconds,
        }
        progress.add(record, trainer.kept)
        for callback in epoch_ends:
            callback.on_epoch_end(progress)
        if progress.should_stop:
            break
    return TrainResult(
        copy.deepcopy(progress.best_state),
        progress.history,
        progress.best_epoch,
        progress.best_acc,
        str(placement.device),
    )
