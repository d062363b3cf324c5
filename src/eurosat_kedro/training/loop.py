"""A plain PyTorch training loop: cached arrays in, best-by-validation weights and history out.

Every epoch writes a checkpoint (model, optimiser, scheduler, scaler, RNG states, history), so
a killed run resumes and ends exactly where an uninterrupted one would.
"""

from __future__ import annotations

import copy
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from eurosat_kedro.preprocessing import normalize

from .augment import dihedral
from .device import pick_device, seed_everything

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
    patience: int = 0  # epochs without val-accuracy gain before stopping; 0 never stops
    seed: int = 42
    device: str = "auto"
    num_threads: int = 0  # 0 keeps torch's default
    amp: bool = True  # mixed precision, on CUDA only
    channels_last: bool = True  # on CUDA only
    eval_batch_size: int = 512
    resume: bool = False
    num_processes: int = 1
    model_spec: dict = field(default_factory=dict)  # the model parameters, for resume checks

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> TrainConfig:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(params) - known - {"checkpoint_path"})
        if unknown:
            raise ValueError(f"unknown training parameter(s) {unknown}; known: {sorted(known)}")
        return cls(**{k: v for k, v in params.items() if k in known})

    def fingerprint(self) -> dict:
        """What must match for a checkpoint to be resumed (not the resume flag itself)."""
        skip = {"resume", "device", "num_threads", "eval_batch_size", "num_processes"}
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
    groups = [{"params": decay, "weight_decay": cfg.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=True)
    raise ValueError(f"training.optimizer must be 'adamw' or 'sgd', got {cfg.optimizer!r}")


def _scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int):
    total = cfg.epochs * steps_per_epoch
    if cfg.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=total,
                                                   pct_start=cfg.warmup_fraction)
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
    if cfg.schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    raise ValueError(
        f"training.schedule must be onecycle, cosine or constant, got {cfg.schedule!r}")


@torch.no_grad()
def predict_logits(model: nn.Module, images: np.ndarray, batch_size: int = 512,
                   device: torch.device | str = "cpu") -> np.ndarray:
    """Logits for uint8 ``(N, 64, 64, 3)`` images, through the shared preprocessing."""
    model.eval()
    device = torch.device(device)
    out = []
    for start in range(0, len(images), batch_size):
        x = torch.from_numpy(normalize(images[start:start + batch_size])).to(device)
        out.append(model(x).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)


def _evaluate(model, x: torch.Tensor, y: torch.Tensor, batch_size: int, criterion,
              autocast) -> tuple[float, float]:
    model.eval()
    loss_sum, correct = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            xb, yb = x[start:start + batch_size], y[start:start + batch_size]
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


def train(model: nn.Module, train_data: dict, val_data: dict, cfg: TrainConfig,
          checkpoint_path: Path | None = None, rank: int = 0, world_size: int = 1,
          stop_after_epochs: int | None = None) -> TrainResult:
    """Train ``model`` on ``train_data`` (``images`` uint8 NHWC, ``labels``), keep the weights
    with the best validation accuracy.

    With ``world_size > 1`` (inside an initialised process group) each rank takes its share of
    every batch and ``model`` must already be wrapped in DistributedDataParallel; only rank 0
    writes checkpoints. ``stop_after_epochs`` simulates an interruption (tests).
    """
    seed_everything(cfg.seed)
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    device = pick_device(cfg.device)
    cuda = device.type == "cuda"
    memory_format = torch.channels_last if (cuda and cfg.channels_last) else torch.preserve_format
    model.to(device, memory_format=memory_format)
    bare = model.module if hasattr(model, "module") else model

    x_train = torch.from_numpy(normalize(train_data["images"])).to(device)
    y_train = torch.from_numpy(np.asarray(train_data["labels"], dtype=np.int64)).to(device)
    x_val = torch.from_numpy(normalize(val_data["images"])).to(device)
    y_val = torch.from_numpy(np.asarray(val_data["labels"], dtype=np.int64)).to(device)
    n = len(x_train)
    if n == 0:
        raise ValueError("the training split is empty: run the data_processing pipeline first")
    batch = min(cfg.batch_size, n)
    steps = n // batch  # the partial last batch is dropped (BatchNorm needs > 1 image)

    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    optimizer = _optimizer(bare, cfg)
    scheduler = _scheduler(optimizer, cfg, steps)
    scaler = torch.amp.GradScaler("cuda", enabled=cuda and cfg.amp)

    def autocast():
        return torch.autocast("cuda", dtype=torch.float16, enabled=cuda and cfg.amp)

    generator = torch.Generator().manual_seed(cfg.seed)
    history: list[dict[str, float]] = []
    best_state, best_acc, best_epoch, stale, start_epoch = None, -1.0, 0, 0, 0

    if cfg.resume and checkpoint_path is not None and checkpoint_path.is_file():
        ckpt = torch.load(checkpoint_path, map_location=device, weights_only=True)
        if ckpt["config"] != cfg.fingerprint():
            changed = sorted(k for k in cfg.fingerprint()
                             if ckpt["config"].get(k) != cfg.fingerprint()[k])
            raise ValueError(
                f"Cannot resume from {checkpoint_path}: it was written with different training "
                f"parameters ({', '.join(changed)}). Use the same parameters, or set "
                "training.resume=false to start afresh."
            )
        bare.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        scaler.load_state_dict(ckpt["scaler"])
        generator.set_state(ckpt["generator"])
        torch.set_rng_state(ckpt["torch_rng"])
        history, best_state = ckpt["history"], ckpt["best_state"]
        best_acc, best_epoch, stale = ckpt["best_acc"], ckpt["best_epoch"], ckpt["stale"]
        start_epoch = ckpt["epoch"]
        logger.info("Resumed from %s after epoch %d", checkpoint_path, start_epoch)
    elif cfg.resume:
        logger.info("training.resume is set but there is no checkpoint yet; starting afresh")

    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        order = torch.randperm(n, generator=generator)
        loss_sum, seen, started = 0.0, 0, time.perf_counter()
        bar = tqdm(range(steps), desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False,
                   disable=None if rank == 0 else True)
        for step in bar:
            idx = order[step * batch:(step + 1) * batch]
            idx = idx[rank::world_size].to(device)
            xb = dihedral(x_train[idx], generator, **cfg.augment)
            if cuda and cfg.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with autocast():
                loss = criterion(model(xb), y_train[idx])
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            loss_sum += loss.item() * len(idx)
            seen += len(idx)
            if step % 10 == 0 or step == steps - 1:
                rate = seen * world_size / (time.perf_counter() - started)
                bar.set_postfix(loss=f"{loss_sum / seen:.4f}", img_s=f"{rate:.0f}")
        bar.close()
        train_seconds = time.perf_counter() - started
        val_loss, val_acc = _evaluate(model, x_val, y_val, cfg.eval_batch_size, criterion,
                                      autocast)
        record = {
            "epoch": epoch + 1, "train_loss": loss_sum / max(seen, 1), "val_loss": val_loss,
            "val_accuracy": val_acc, "lr": optimizer.param_groups[0]["lr"],
            "epoch_seconds": time.perf_counter() - started,
            "images_per_second": seen * world_size / train_seconds,
        }
        history.append(record)
        if val_acc > best_acc:
            best_acc, best_epoch, stale = val_acc, epoch + 1, 0
            best_state = {k: v.detach().cpu().clone() for k, v in bare.state_dict().items()}
        else:
            stale += 1
        if rank == 0:
            logger.info("epoch %d/%d: train loss %.4f, val loss %.4f, val acc %.4f, lr %.2e, "
                        "%.0f img/s, %.0f s", epoch + 1, cfg.epochs, record["train_loss"],
                        val_loss, val_acc, record["lr"], record["images_per_second"],
                        record["epoch_seconds"])
        if rank == 0 and checkpoint_path is not None:
            _save_checkpoint(checkpoint_path, {
                "model": bare.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
                "generator": generator.get_state(), "torch_rng": torch.get_rng_state(),
                "history": history, "best_state": best_state, "best_acc": best_acc,
                "best_epoch": best_epoch, "stale": stale, "epoch": epoch + 1,
                "config": cfg.fingerprint(),
            })
        if stop_after_epochs is not None and epoch + 1 - start_epoch >= stop_after_epochs:
            break
        if cfg.patience and stale >= cfg.patience:
            logger.info("No val-accuracy gain for %d epochs: stopping early", stale)
            break
    return TrainResult(copy.deepcopy(best_state), history, best_epoch, best_acc, str(device))
