"""Run the training loop under DistributedDataParallel, one process per rank, started here
(``runtime.engine: local``) or by Spark (``runtime.engine: spark``, see ``spark_engine``)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from eurosat_kedro.models import ModelSpec, build_model
from eurosat_kedro.ports import free_port

from .callbacks import Callback
from .config import RuntimeConfig, TrainConfig
from .loop import TrainResult, train


def _worker(
    rank: int,
    world_size: int,
    port: int,
    spec: ModelSpec,
    train_data: dict,
    val_data: dict,
    cfg: TrainConfig,
    runtime: RuntimeConfig,
    callbacks: Sequence[Callback],
    out: Path,
    teacher: nn.Module | None,
) -> None:
    init = f"tcp://127.0.0.1:{port}"
    result = _train_rank(
        rank, world_size, init, spec, train_data, val_data, cfg, runtime, callbacks, teacher
    )
    if rank == 0:
        torch.save(result, out)


def _train_rank(
    rank: int,
    world_size: int,
    init_method: str,
    spec: ModelSpec,
    train_data: dict,
    val_data: dict,
    cfg: TrainConfig,
    runtime: RuntimeConfig,
    callbacks: Sequence[Callback],
    teacher: nn.Module | None = None,
) -> dict | None:
    """Join the process group, train this rank's share (with this process's copy of the
    teacher, when distilling); every rank returns rank 0's result as a dict (TorchDistributor
    may keep any rank's return value)."""
    cuda = torch.cuda.is_available() and runtime.device in ("auto", "cuda")
    if cuda:
        local_rank = int(os.environ.get("LOCAL_RANK", rank))  # torchrun's: the GPU on this host
        torch.cuda.set_device(local_rank % torch.cuda.device_count())
    dist.init_process_group(
        "nccl" if cuda else "gloo",
        init_method=init_method,
        rank=rank,
        world_size=world_size,
    )
    try:
        torch.manual_seed(cfg.seed)  # identical initial weights on every rank
        model = build_model(spec)
        if not cuda:
            runtime = replace(runtime, device="cpu")
        device = torch.device("cuda", torch.cuda.current_device()) if cuda else None
        model.to(device or "cpu")
        ddp = DistributedDataParallel(model, device_ids=[device.index] if cuda else None)
        result = train(
            ddp,
            train_data,
            val_data,
            cfg,
            runtime,
            callbacks=callbacks,
            rank=rank,
            world_size=world_size,
            teacher=teacher,
        )
        shared = [asdict(result) if rank == 0 else None]
        dist.broadcast_object_list(shared, src=0)
        return shared[0]
    finally:
        dist.destroy_process_group()


def train_distributed(
    spec: ModelSpec,
    train_data: dict,
    val_data: dict,
    cfg: TrainConfig,
    runtime: RuntimeConfig,
    callbacks: Sequence[Callback] = (),
    teacher: nn.Module | None = None,
) -> TrainResult:
    """Spawn ``runtime.num_processes`` processes (NCCL on GPUs, gloo on CPU) and return rank
    0's result; ``callbacks`` (picklable) run in rank 0's process, and each process gets its
    own copy of ``teacher`` (distillation: see ``train``). With
    ``runtime.engine == "spark"`` Spark's TorchDistributor starts them instead, on the
    executors of the active or configured Spark session (``spark_engine.train_on_spark``)."""
    if runtime.engine == "spark":
        from .spark_engine import train_on_spark

        return train_on_spark(spec, train_data, val_data, cfg, runtime, callbacks, teacher)
    world_size = runtime.num_processes
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.pt"
        args = (world_size, free_port(), spec, train_data, val_data, cfg, runtime)
        mp.spawn(_worker, nprocs=world_size, join=True, args=(*args, callbacks, out, teacher))
        return TrainResult(**torch.load(out, weights_only=True))
