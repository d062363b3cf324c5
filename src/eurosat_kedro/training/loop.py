"""A plain PyTorch training loop: cached arrays in, best-by-validation weights and history out.

Every epoch writes a checkpoint (model, optimiser, scheduler, scaler, RNG states, history), so
a killed run resumes and ends exactly where an uninterrupted one would.
"""

from __future__ import annotations

import copy
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm.auto import tqdm

from eurosat_kedro.preprocessing import normalize

from .augment import dihedral, mix_batch
from .device import autocast_dtype, pick_device, seed_everything

logger = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Every knob of the loop; built from the ``training`` parameters."""

    epochs: int = 30
    batch_size: int = 128
    optimizer: str = "adamw"  # adamw | sgd
    lr: float = 3e-3
    weight_decay: float = 5e-4
    momentum: float = 0.9
    schedule: str = "onecycle"  # onecycle | cosine | constant
    warmup_fraction: float = 0.2
    label_smoothing: float = 0.1
    augment: dict = field(default_factory=lambda: {"flips": True, "rot90": True})
    mixing: dict = field(default_factory=dict)  # mixup_alpha, cutmix_alpha, probability
    ema_decay: float = 0.0  # >0: validate, keep and save an exponential moving average
    patience: int = 0  # epochs without val-accuracy gain before stopping; 0 never stops
    seed: int = 42
    device: str = "auto"
    num_threads: int = 0  # 0 keeps torch's default
    amp: bool = True  # fp16 mixed precision on CUDA
    cpu_bf16: bool = False  # bf16 mixed precision on CPUs with native bf16 (AVX-512 BF16, AMX)
    channels_last: bool = True  # NHWC memory layout on CUDA, and on CPU with cpu_bf16
    eval_batch_size: int = 512
    resume: bool = False  # continue from checkpoint_path
    num_processes: int = 1
    engine: str = "local"  # local: processes spawned here | spark: Spark's TorchDistributor
    checkpoint_path: str | None = None  # written every epoch (rank 0); None: no checkpoints
    model_spec: dict = field(default_factory=dict)  # the model parameters, for resume checks

    @classmethod
    def from_params(cls, params: dict[str, Any], model_spec: dict | None = None) -> TrainConfig:
        known = set(cls.__dataclass_fields__) - {"model_spec"}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(f"unknown training parameter(s) {unknown}; known: {sorted(known)}")
        mixing_keys = {"mixup_alpha", "cutmix_alpha", "probability"}
        unknown = sorted(set(params.get("mixing") or {}) - mixing_keys)
        if unknown:
            raise ValueError(
                f"unknown training.mixing key(s) {unknown}; known: {sorted(mixing_keys)}"
            )
        if not 0.0 <= params.get("ema_decay", 0.0) < 1.0:
            raise ValueError(f"training.ema_decay must be in [0, 1), got {params['ema_decay']}")
        return cls(**params, model_spec=dict(model_spec or {}))

    def fingerprint(self) -> dict:
        """What must match for a checkpoint to be resumed (not where or how fast it runs)."""
        skip = {
            "resume",
            "device",
            "num_threads",
            "eval_batch_size",
            "num_processes",
            "engine",
            "checkpoint_path",
        }
        return {k: v for k, v in asdict(self).items() if k not in skip}


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


def _evaluate(
    model, x: torch.Tensor, y: torch.Tensor, batch_size: int, criterion, autocast
) -> tuple[float, float]:
    model.eval()
    loss_sum, correct = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            with autocast():
                logits = model(xb)
            loss_sum += float(criterion(logits.float(), yb)) * len(xb)
            correct += int((logits.argmax(1) == yb).sum())
    return loss_sum / max(len(x), 1), correct / max(len(x), 1)


def _save_checkpoint(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


@dataclass
class _Parts:
    """What one run trains with, all of it saved in the checkpoint."""

    criterion: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler
    generator: torch.Generator
    ema: AveragedModel | None = None  # the moving average of the weights, when ema_decay > 0


@dataclass
class _Progress:
    """Where the run is: history and the best epoch so far."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_state: dict[str, torch.Tensor] | None = None
    best_acc: float = -1.0
    best_epoch: int = 0
    stale: int = 0
    epoch: int = 0  # epochs done

    def add(self, record: dict[str, float], model: nn.Module) -> None:
        self.history.append(record)
        self.epoch = int(record["epoch"])
        if record["val_accuracy"] > self.best_acc:
            self.best_acc, self.best_epoch, self.stale = record["val_accuracy"], self.epoch, 0
            self.best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        else:
            self.stale += 1


def _checkpoint_state(
    model: nn.Module, parts: _Parts, progress: _Progress, cfg: TrainConfig
) -> dict:
    return {
        "model": model.state_dict(),
        "optimizer": parts.optimizer.state_dict(),
        "scheduler": parts.scheduler.state_dict(),
        "scaler": parts.scaler.state_dict(),
        "ema": parts.ema.state_dict() if parts.ema is not None else None,
        "generator": parts.generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        "history": progress.history,
        "best_state": progress.best_state,
        "best_acc": progress.best_acc,
        "best_epoch": progress.best_epoch,
        "stale": progress.stale,
        "epoch": progress.epoch,
        "config": cfg.fingerprint(),
    }


def _restore(
    path: Path, model: nn.Module, parts: _Parts, cfg: TrainConfig, device: torch.device
) -> _Progress:
    """Load a checkpoint written with the same parameters into ``model`` and ``parts``."""
    ckpt = torch.load(path, map_location=device, weights_only=True)
    if ckpt["config"] != cfg.fingerprint():
        changed = sorted(
            k for k in cfg.fingerprint() if ckpt["config"].get(k) != cfg.fingerprint()[k]
        )
        raise ValueError(
            f"Cannot resume from {path}: it was written with different training "
            f"parameters ({', '.join(changed)}). Use the same parameters, or set "
            "training.resume=false to start afresh."
        )
    model.load_state_dict(ckpt["model"])
    parts.optimizer.load_state_dict(ckpt["optimizer"])
    parts.scheduler.load_state_dict(ckpt["scheduler"])
    parts.scaler.load_state_dict(ckpt["scaler"])
    if parts.ema is not None:
        parts.ema.load_state_dict(ckpt["ema"])
    parts.generator.set_state(ckpt["generator"])
    torch.set_rng_state(ckpt["torch_rng"])
    logger.info("Resumed from %s after epoch %d", path, ckpt["epoch"])
    return _Progress(
        ckpt["history"],
        ckpt["best_state"],
        ckpt["best_acc"],
        ckpt["best_epoch"],
        ckpt["stale"],
        ckpt["epoch"],
    )


def _train_one_epoch(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    parts: _Parts,
    cfg: TrainConfig,
    autocast,
    memory_format: torch.memory_format,
    desc: str,
    rank: int,
    world_size: int,
) -> tuple[float, int]:
    """One pass over the shuffled training split; returns the mean loss and images seen
    (by this rank)."""
    model.train()
    n = len(x)
    batch = min(cfg.batch_size, n)
    steps = n // batch  # the partial last batch is dropped (BatchNorm needs > 1 image)
    order = torch.randperm(n, generator=parts.generator)
    loss_sum, seen, started = 0.0, 0, time.perf_counter()
    bar = tqdm(range(steps), desc=desc, leave=False, disable=None if rank == 0 else True)
    for step in bar:
        idx = order[step * batch : (step + 1) * batch][rank::world_size].to(x.device)
        xb, yb = dihedral(x[idx], parts.generator, **cfg.augment), y[idx]
        mixed = mix_batch(xb, parts.generator, **cfg.mixing)
        if mixed is not None:
            xb = mixed.images
        xb = xb.contiguous(memory_format=memory_format)
        with autocast():
            logits = model(xb)
            loss = parts.criterion(logits, yb)
            if mixed is not None:
                partner_loss = parts.criterion(logits, yb[mixed.partner])
                loss = mixed.share * loss + (1 - mixed.share) * partner_loss
        parts.optimizer.zero_grad(set_to_none=True)
        parts.scaler.scale(loss).backward()
        parts.scaler.step(parts.optimizer)
        parts.scaler.update()
        parts.scheduler.step()
        if parts.ema is not None:
            parts.ema.update_parameters(model.module if hasattr(model, "module") else model)
        loss_sum += loss.item() * len(idx)
        seen += len(idx)
        if step % 10 == 0 or step == steps - 1:
            rate = seen * world_size / (time.perf_counter() - started)
            bar.set_postfix(loss=f"{loss_sum / seen:.4f}", img_s=f"{rate:.0f}")
    bar.close()
    return loss_sum / max(seen, 1), seen


def train(
    model: nn.Module,
    train_data: dict,
    val_data: dict,
    cfg: TrainConfig,
    rank: int = 0,
    world_size: int = 1,
    on_epoch_end: Callable[[dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train ``model`` on ``train_data`` (``images`` uint8 NHWC, ``labels``), keep the weights
    with the best validation accuracy.

    Every epoch ends with a checkpoint at ``cfg.checkpoint_path`` and then
    ``on_epoch_end(record)`` (rank 0 only; e.g. live MLflow metrics). With ``world_size > 1``
    (inside an initialised process group) each rank takes its share of every batch and
    ``model`` must already be wrapped in DistributedDataParallel.
    """
    seed_everything(cfg.seed)
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    device = pick_device(cfg.device)
    amp_dtype = autocast_dtype(device, cfg.amp, cfg.cpu_bf16)
    channels_last = cfg.channels_last and (device.type == "cuda" or amp_dtype == torch.bfloat16)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model.to(device, memory_format=memory_format)
    bare = model.module if hasattr(model, "module") else model

    x_train = torch.from_numpy(normalize(train_data["images"])).to(device)
    y_train = torch.from_numpy(np.asarray(train_data["labels"], dtype=np.int64)).to(device)
    x_val = torch.from_numpy(normalize(val_data["images"])).to(device)
    y_val = torch.from_numpy(np.asarray(val_data["labels"], dtype=np.int64)).to(device)
    if len(x_train) == 0:
        raise ValueError("the training split is empty: run the data_processing pipeline first")

    optimizer = _optimizer(bare, cfg)
    parts = _Parts(
        criterion=nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing),
        optimizer=optimizer,
        scheduler=_scheduler(optimizer, cfg, len(x_train) // min(cfg.batch_size, len(x_train))),
        scaler=torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16),
        generator=torch.Generator().manual_seed(cfg.seed),
        ema=AveragedModel(bare, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay), use_buffers=True)
        if cfg.ema_decay
        else None,
    )
    validated = parts.ema.module if parts.ema is not None else bare

    def autocast():
        return torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None)

    checkpoint = Path(cfg.checkpoint_path) if cfg.checkpoint_path else None
    progress = _Progress()
    if cfg.resume and checkpoint is not None and checkpoint.is_file():
        progress = _restore(checkpoint, bare, parts, cfg, device)
    elif cfg.resume:
        logger.info("training.resume is set but there is no checkpoint yet; starting afresh")

    for epoch in range(progress.epoch + 1, cfg.epochs + 1):
        started = time.perf_counter()
        train_loss, seen = _train_one_epoch(
            model,
            x_train,
            y_train,
            parts,
            cfg,
            autocast,
            memory_format,
            f"epoch {epoch}/{cfg.epochs}",
            rank,
            world_size,
        )
        train_seconds = time.perf_counter() - started
        val_loss, val_acc = _evaluate(
            validated if parts.ema is not None else model,
            x_val,
            y_val,
            cfg.eval_batch_size,
            parts.criterion,
            autocast,
        )
        record = {
            "epoch": epoch,
            "train_loss": train_loss,
            "val_loss": val_loss,
            "val_accuracy": val_acc,
            "lr": parts.optimizer.param_groups[0]["lr"],
            "epoch_seconds": time.perf_counter() - started,
            "images_per_second": seen * world_size / train_seconds,
        }
        progress.add(record, validated)
        if rank == 0:
            logger.info(
                "epoch %d/%d: train loss %.4f, val loss %.4f, val acc %.4f, lr %.2e, "
                "%.0f img/s, %.0f s",
                epoch,
                cfg.epochs,
                train_loss,
                val_loss,
                val_acc,
                record["lr"],
                record["images_per_second"],
                record["epoch_seconds"],
            )
            if checkpoint is not None:
                _save_checkpoint(checkpoint, _checkpoint_state(bare, parts, progress, cfg))
            if on_epoch_end is not None:
                on_epoch_end(record)
        if cfg.patience and progress.stale >= cfg.patience:
            logger.info("No val-accuracy gain for %d epochs: stopping early", progress.stale)
            break
    return TrainResult(
        copy.deepcopy(progress.best_state),
        progress.history,
        progress.best_epoch,
        progress.best_acc,
        str(device),
    )
