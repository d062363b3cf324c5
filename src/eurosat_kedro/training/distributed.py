"""Run the training loop under DistributedDataParallel, one process per rank, started here."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
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
) -> None:
    init = f"tcp://127.0.0.1:{port}"
    result = _train_rank(
        rank, world_size, init, spec, train_data, val_data, cfg, runtime, callbacks
    )
    if rank == 0:
        torch.save(result, out)


def _spark_worker(
    spec: ModelSpec,
    train_data: dict,
    val_data: dict,
    cfg: TrainConfig,
    runtime: RuntimeConfig,
    callbacks: Sequence[Callback],
) -> dict | None:
    """One rank under TorchDistributor, which sets RANK, WORLD_SIZE and MASTER_ADDR/PORT."""
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    return _train_rank(
        rank, world_size, "env://", spec, train_data, val_data, cfg, runtime, callbacks
    )


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
) -> dict | None:
    """Join the process group, train this rank's share; every rank returns rank 0's result as
    a dict (TorchDistributor may keep any rank's return value)."""
    cuda = torch.cuda.is_available() and runtime.device in ("auto", "cuda")
    if cuda:
        torch.cuda.set_device(rank % torch.cuda.device_count())
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
) -> TrainResult:
    """Spawn ``runtime.num_processes`` processes (NCCL on GPUs, gloo on CPU) and return rank
    0's result; ``callbacks`` (picklable) run in rank 0's process. With
    ``runtime.engine == "spark"`` Spark's TorchDistributor (local mode, on the active or
    configured Spark session) starts the processes instead, through torchrun."""
    if runtime.engine == "spark":
        return _train_on_spark(spec, train_data, val_data, cfg, runtime, callbacks)
    world_size = runtime.num_processes
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.pt"
        args = (world_size, free_port(), spec, train_data, val_data, cfg, runtime, callbacks, out)
        mp.spawn(_worker, nprocs=world_size, join=True, args=args)
        return TrainResult(**torch.load(out, weights_only=True))


def _train_on_spark(
    spec: ModelSpec,
    train_data: dict,
    val_data: dict,
    cfg: TrainConfig,
    runtime: RuntimeConfig,
    callbacks: Sequence[Callback],
) -> TrainResult:
    from pyspark.ml.torch.distributor import TorchDistributor

    from eurosat_kedro.spark import get_spark

    get_spark()  # TorchDistributor runs on the active session
    use_gpu = torch.cuda.is_available() and runtime.device in ("auto", "cuda")
    distributor = TorchDistributor(
        num_processes=runtime.num_processes, local_mode=True, use_gpu=use_gpu
    )
    result = distributor.run(_spark_worker, spec, train_data, val_data, cfg, runtime, callbacks)
    return TrainResult(**result)
