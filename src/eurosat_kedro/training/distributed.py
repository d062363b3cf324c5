"""Run the training loop under DistributedDataParallel, one process per rank, started here."""

from __future__ import annotations

import socket
import tempfile
from dataclasses import asdict
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from eurosat_kedro.models import build_model

from .loop import TrainConfig, TrainResult, train


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _worker(rank: int, world_size: int, port: int, model_spec: dict, train_data: dict,
            val_data: dict, cfg: TrainConfig, checkpoint_path: Path | None, out: Path) -> None:
    cuda = torch.cuda.is_available() and cfg.device in ("auto", "cuda")
    if cuda:
        torch.cuda.set_device(rank % torch.cuda.device_count())
    dist.init_process_group("nccl" if cuda else "gloo", init_method=f"tcp://127.0.0.1:{port}",
                            rank=rank, world_size=world_size)
    try:
        torch.manual_seed(cfg.seed)  # identical initial weights on every rank
        model = build_model(**model_spec)
        if not cuda:
            cfg.device = "cpu"
        device = torch.device("cuda", torch.cuda.current_device()) if cuda else None
        model.to(device or "cpu")
        ddp = DistributedDataParallel(model, device_ids=[device.index] if cuda else None)
        result = train(ddp, train_data, val_data, cfg, checkpoint_path, rank, world_size)
        if rank == 0:
            torch.save(asdict(result), out)
    finally:
        dist.destroy_process_group()


def train_distributed(model_spec: dict, train_data: dict, val_data: dict, cfg: TrainConfig,
                      checkpoint_path: Path | None, world_size: int) -> TrainResult:
    """Spawn ``world_size`` processes (NCCL on GPUs, gloo on CPU) and return rank 0's result."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.pt"
        mp.spawn(_worker, nprocs=world_size, join=True,
                 args=(world_size, free_port(), model_spec, train_data, val_data, cfg,
                       checkpoint_path, out))
        return TrainResult(**torch.load(out, weights_only=True))
