"""``runtime.engine: spark``: the DDP ranks of ``distributed.py`` started by Spark's
``TorchDistributor``, one barrier task per rank on the executors of the session's master (or,
with ``runtime.spark_local_mode``, as processes on the driver).

On a cluster the ranks run on other machines, so what they read and write must be where all of
them see it: the driver stages the training splits as ``.npz`` files in a new folder beside
``runtime.checkpoint_path`` (removed afterwards), every rank first checks that it sees that
folder, and rank 0 writes the checkpoints there. The MLflow run (tracking URI and run id)
travels with the callbacks; rank 0's result comes back to the driver through TorchDistributor,
as the local launcher's does (``TrainResult``).
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from torch import nn

from eurosat_kedro.datasets.array_bundle_dataset import ArrayBundleDataset
from eurosat_kedro.models import ModelSpec

from .callbacks import Callback
from .config import RuntimeConfig, TrainConfig
from .distributed import _train_rank
from .loop import TrainResult
from .mlflow_epochs import MlflowEpochLogger

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)

SPLITS = ("train", "val")  # the staged files: <name>.npz
SLOT_WAIT_SECONDS = 300.0  # how long a cluster's executors may take to register
SHARED_PATH_HELP = (
    "runtime.checkpoint_path (runtime.teacher_checkpoint_path for the teacher pipeline) must be "
    "on a filesystem that the driver and every executor mount "
    "at the same path (NFS, a mounted bucket, /dbfs, ...), or set runtime.spark_local_mode=true "
    "to train on the driver"
)


def train_on_spark(
    spec: ModelSpec,
    train_data: dict,
    val_data: dict,
    cfg: TrainConfig,
    runtime: RuntimeConfig,
    callbacks: Sequence[Callback] = (),
    teacher: nn.Module | None = None,
) -> TrainResult:
    """Train ``runtime.num_processes`` DDP ranks under TorchDistributor on the active (or
    ``spark.yml``'s) Spark session and return rank 0's result."""
    from pyspark.ml.torch.distributor import TorchDistributor

    from eurosat_kedro.spark import get_spark

    runtime = _checkpoint_for_ranks(runtime)
    spark = get_spark()  # TorchDistributor runs on the active session
    if not runtime.spark_local_mode:
        task_cpus = int(spark.conf.get("spark.task.cpus", "1"))
        runtime = replace(runtime, num_threads=runtime.num_threads or task_cpus)
        wait_for_task_slots(spark, runtime.num_processes)
    distributor = TorchDistributor(
        num_processes=runtime.num_processes,
        local_mode=runtime.spark_local_mode,
        use_gpu=_ranks_get_gpus(spark, runtime),
    )
    with _staged_splits(runtime, {"train": train_data, "val": val_data}) as inputs:
        arguments = (spec, str(inputs), cfg, runtime, list(callbacks), teacher)
        result = distributor.run(_spark_rank, *arguments)
    return TrainResult(**result)


def _checkpoint_for_ranks(runtime: RuntimeConfig) -> RuntimeConfig:
    """``runtime`` with an absolute checkpoint path (an executor works in a folder of its
    own); on a cluster the path is required, as the folder the ranks share."""
    if runtime.checkpoint_path:
        return replace(runtime, checkpoint_path=str(Path(runtime.checkpoint_path).resolve()))
    if runtime.spark_local_mode:
        return runtime
    raise ValueError(
        "runtime.engine=spark trains on the Spark executors and needs runtime.checkpoint_path "
        "(runtime.teacher_checkpoint_path for the teacher pipeline), not null: the executors "
        "write the checkpoints there and read the training splits "
        f"that the driver stages beside it. {SHARED_PATH_HELP}."
    )


def wait_for_task_slots(
    spark: SparkSession, needed: int, timeout: float = SLOT_WAIT_SECONDS
) -> None:
    """Return once the cluster can run ``needed`` tasks at once, as TorchDistributor's barrier
    tasks must (short of slots, Spark retries for ten minutes before it fails). A cluster's
    executors may still be registering: wait up to ``timeout`` seconds (not on a local master,
    whose slots are all there), then fail saying what to change."""
    from py4j.protocol import Py4JError

    context = spark.sparkContext
    local = context.master == "local" or context.master.startswith("local[")
    deadline = time.monotonic() + (0.0 if local else timeout)
    try:
        java = context._jsc.sc()
        profile = java.resourceProfileManager().defaultResourceProfile()
        while (slots := java.maxNumConcurrentTasks(profile)) < needed:
            if time.monotonic() >= deadline:
                raise RuntimeError(
                    f"runtime.num_processes={needed} needs {needed} Spark task slots at once "
                    f"(one barrier task per process), but {context.master} offers {slots} "
                    "(executor cores / spark.task.cpus): give the cluster more executors or "
                    "cores (spark.executor.instances, spark.executor.cores in spark.yml) or "
                    "lower runtime.num_processes"
                )
            logger.info("Waiting for %d Spark task slots (%d so far)", needed, slots)
            time.sleep(2.0)
    except Py4JError as error:  # the slot count is Spark-internal: leave the check to Spark
        logger.debug("Spark task slots not checked: %s", error)


def _ranks_get_gpus(spark: SparkSession, runtime: RuntimeConfig) -> bool:
    """Whether TorchDistributor hands GPUs to the ranks: when Spark has GPUs for them
    (``spark.task.resource.gpu.amount`` on a cluster, ``spark.driver.resource.gpu.amount`` in
    local mode) and ``runtime.device`` is not cpu. Without, a cluster's ranks see no GPU and
    train on their CPUs (gloo); local-mode ranks see the driver's GPUs, as the local
    launcher's do."""
    key = (
        "spark.driver.resource.gpu.amount"
        if runtime.spark_local_mode
        else "spark.task.resource.gpu.amount"
    )
    given = float(spark.conf.get(key, "0")) > 0
    if runtime.device == "cuda" and not given and not runtime.spark_local_mode:
        raise ValueError(
            "runtime.device=cuda with runtime.engine=spark needs GPUs for the executors' "
            f"tasks: set {key} (and the executors' GPU resources) in spark.yml, or set "
            "runtime.device=auto to train on the executors' CPUs"
        )
    return given and runtime.device != "cpu"


@contextmanager
def _staged_splits(runtime: RuntimeConfig, splits: dict[str, dict]) -> Iterator[Path]:
    """``splits`` written as ``<name>.npz`` to a new folder, removed afterwards: beside the
    checkpoint on a cluster (where every rank must see it), in the temporary folder in local
    mode (the ranks run here)."""
    parent = None if runtime.spark_local_mode else Path(runtime.checkpoint_path).parent
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=".spark-splits-", dir=parent))
    try:
        folder.chmod(0o755)  # executors may run as another user
        for name, arrays in splits.items():
            ArrayBundleDataset(str(folder / f"{name}.npz")).save(arrays)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _spark_rank(
    spec: ModelSpec,
    inputs: str,
    cfg: TrainConfig,
    runtime: RuntimeConfig,
    callbacks: Sequence[Callback],
    teacher: nn.Module | None,
) -> dict | None:
    """One rank, in a process that TorchDistributor started with RANK, WORLD_SIZE and
    MASTER_ADDR/PORT set: the splits staged in ``inputs``, then the DDP loop."""
    # the epoch lines reach the driver's log through TorchDistributor's log stream
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    splits = load_staged_splits(Path(inputs))
    if rank == 0:
        callbacks = [c for c in callbacks if _store_visible(c)]
    return _train_rank(rank, world_size, "env://", spec, *splits, cfg, runtime, callbacks, teacher)


def load_staged_splits(folder: Path) -> list[dict]:
    """The splits the driver staged in ``folder``, in ``SPLITS`` order; a clear error when
    this host does not see the folder (the checkpoint folder is not shared)."""
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder}, which the Spark driver wrote beside runtime.checkpoint_path, is not "
            f"visible on executor host {socket.gethostname()}: {SHARED_PATH_HELP}."
        )
    return [ArrayBundleDataset(str(folder / f"{name}.npz")).load() for name in SPLITS]


def _store_visible(callback: Callback) -> bool:
    """False, with a warning, for an MLflow logger whose SQLite store this host does not see
    (an executor would log into an empty store of its own); True for anything else."""
    if not isinstance(callback, MlflowEpochLogger):
        return True
    prefix = "sqlite:///"
    uri = callback.tracking_uri
    if not uri.startswith(prefix) or Path(uri.removeprefix(prefix)).is_file():
        return True
    logger.warning(
        "The MLflow store %s is not visible on executor host %s: the epochs are not logged "
        "to run %s (training_history.json has them). Put mlflow.db on a filesystem that the "
        "executors share, or track to an MLflow server (MLFLOW_TRACKING_URI=http://...).",
        uri,
        socket.gethostname(),
        callback.run_id,
    )
    return False
