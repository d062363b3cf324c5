"""One ``runtime.engine=spark`` training on a ``local-cluster`` master, in a process of its own
(one Spark session per process; the tests' own is ``local[2]``): the driver starts a standalone
master and two workers, each worker an executor JVM with its own Python workers, so the ranks
run in barrier tasks on executors as on a real cluster. Run by test_distributed:

    python -m tests.training.local_cluster_training SPLITS_DIR CHECKPOINT RESULT URI RUN_ID

``SPLITS_DIR`` holds ``train.npz`` and ``val.npz``; the run resumes from ``CHECKPOINT`` (or
starts afresh when there is none), logs its epochs to MLflow run ``RUN_ID`` of store ``URI``,
and saves its ``TrainResult`` at ``RESULT`` (``torch.save`` of its fields). The line
``STARTED`` is printed once the session is up.
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path

import torch

from eurosat_kedro.datasets.array_bundle_dataset import ArrayBundleDataset
from eurosat_kedro.models import ModelSpec
from eurosat_kedro.spark import get_spark
from eurosat_kedro.training.distributed import train_distributed
from eurosat_kedro.training.mlflow_epochs import MlflowEpochLogger
from tests.training.conftest import config, runtime

MASTER = "local-cluster[2,1,1024]"  # 2 workers of 1 core and 1024 MiB, one executor each
STARTED = "local-cluster session started"
SPEC = ModelSpec("simple_cnn", width=8)
RECIPE = config(epochs=2)
SPLITS = ("train", "val")  # SPLITS_DIR/<name>.npz


def main(splits_dir: str, checkpoint: str, result_path: str, uri: str, run_id: str) -> None:
    spark = get_spark(
        {
            "spark.master": MASTER,
            "spark.ui.enabled": False,
            "spark.driver.memory": "1g",
            "spark.executor.memory": "1g",
        }
    )
    print(STARTED, flush=True)
    try:
        train, val = (ArrayBundleDataset(f"{splits_dir}/{name}.npz").load() for name in SPLITS)
        machine = runtime(
            device="cpu", engine="spark", num_processes=2, resume=True, checkpoint_path=checkpoint
        )
        epochs_to_mlflow = MlflowEpochLogger(uri, run_id)
        result = train_distributed(SPEC, train, val, RECIPE, machine, [epochs_to_mlflow])
        torch.save(asdict(result), Path(result_path))
    finally:
        spark.stop()


if __name__ == "__main__":
    main(*sys.argv[1:])
