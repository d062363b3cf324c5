"""runtime.engine=spark: the same DDP loop in TorchDistributor's barrier tasks on the Spark
executors (not on the driver) gives what the project's own launcher gives, with the same
checkpoints, resume and MLflow epochs; what the executors cannot reach fails clearly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
import torch

import tests.training.local_cluster_training as cluster
from eurosat_kedro.datasets.array_bundle_dataset import ArrayBundleDataset
from eurosat_kedro.models import ModelSpec, build_model
from eurosat_kedro.spark import check_java
from eurosat_kedro.training.distributed import train_distributed
from eurosat_kedro.training.loop import TrainResult
from tests.conftest import PROJECT_ROOT, stop_process_group, tiny_arrays
from tests.training.conftest import CopyCheckpointAfter, config, runtime

TIMING = ("epoch_seconds", "images_per_second")
CLUSTER_TIMEOUT = 600  # seconds for the local-cluster run, start included


def _without_timing(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in epoch.items() if k not in TIMING} for epoch in history]


def _assert_same_training(result: TrainResult, expected: TrainResult) -> None:
    """Same metrics epoch by epoch and the same best weights, bit for bit (seeded, same
    sharding, same loop)."""
    assert _without_timing(result.history) == _without_timing(expected.history)
    assert (result.best_epoch, result.best_val_accuracy) == (
        expected.best_epoch,
        expected.best_val_accuracy,
    )
    assert result.best_state.keys() == expected.best_state.keys()
    for key, tensor in expected.best_state.items():
        assert torch.equal(tensor, result.best_state[key]), key


def _spark_scripts() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent / "bin" / "spark-class"


def _run_on_local_cluster(arguments: list[str], log: Path) -> None:
    """``local_cluster_training`` in a process of its own (one Spark session per process; the
    tests' own is local[2]); a skip saying why when the cluster does not start."""
    try:
        check_java()
    except RuntimeError as error:
        pytest.skip(f"local-cluster needs Java: {error}")
    if not _spark_scripts().is_file():
        pytest.skip(f"local-cluster starts executors with {_spark_scripts()}, which is missing")
    command = [sys.executable, "-m", "tests.training.local_cluster_training", *arguments]
    with open(log, "wb") as output:  # its own process group: the JVMs go with it on a timeout
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env={**os.environ, "PYSPARK_PYTHON": sys.executable},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        returncode = process.wait(timeout=CLUSTER_TIMEOUT)
    except subprocess.TimeoutExpired:
        returncode = None
    finally:
        stop_process_group(process)
    printed = log.read_text(errors="replace")
    if cluster.STARTED not in printed:
        pytest.skip(f"local-cluster did not start in {CLUSTER_TIMEOUT} s:\n{printed[-3000:]}")
    assert returncode == 0, f"exit status {returncode}:\n{printed[-5000:]}"


@pytest.mark.slow
def test_executors_of_a_local_cluster_resume_and_end_where_the_local_launcher_does(
    mlflow_experiment: str, tmp_path: Path
):
    """On local-cluster[2,1,1024] (a standalone master and two worker JVMs that the driver
    starts, each with an executor of its own, as on a real cluster) the ranks resume an
    epoch-1 checkpoint of the local launcher's 2-epoch run and end with its metrics and
    weights; rank 0 writes the checkpoint and logs epoch 2 to the MLflow run."""
    data, val = tiny_arrays(4), tiny_arrays(1, seed=1)
    shared = tmp_path / "shared" / "last.pt"  # what the executors share with the driver
    shared.parent.mkdir()
    local_checkpoint = tmp_path / "local.pt"
    keep_epoch_one = CopyCheckpointAfter(1, local_checkpoint, shared)
    machine = runtime(device="cpu", num_processes=2, checkpoint_path=str(local_checkpoint))
    whole = train_distributed(cluster.SPEC, data, val, cluster.RECIPE, machine, [keep_epoch_one])

    for name, arrays in zip(cluster.SPLITS, (data, val), strict=True):
        ArrayBundleDataset(str(tmp_path / f"{name}.npz")).save(arrays)
    client = mlflow.MlflowClient()
    run_id = client.create_run(mlflow_experiment).info.run_id
    result_path = tmp_path / "result.pt"
    arguments = [str(tmp_path), str(shared), str(result_path), mlflow.get_tracking_uri(), run_id]
    _run_on_local_cluster(arguments, tmp_path / "local_cluster.log")

    resumed = TrainResult(**torch.load(result_path, weights_only=True))
    _assert_same_training(resumed, whole)
    build_model(cluster.SPEC).load_state_dict(resumed.best_state)  # the model the node ships
    saved = torch.load(shared, weights_only=True)
    assert saved["epoch"] == 2  # rank 0 wrote epoch 2 into the shared folder
    assert saved["mlflow_run"] == {"tracking_uri": mlflow.get_tracking_uri(), "run_id": run_id}
    assert sorted(shared.parent.iterdir()) == [shared]  # the staged splits are gone
    logged = client.get_metric_history(run_id, "training.val_accuracy")
    assert [(m.step, m.value) for m in logged] == [(2, resumed.history[1]["val_accuracy"])]


def test_on_a_cluster_the_checkpoint_path_is_required():
    no_checkpoint = runtime(engine="spark", num_processes=2, checkpoint_path=None)
    needed = r"needs runtime.checkpoint_path \(runtime.teacher_checkpoint_path .*not null"
    with pytest.raises(ValueError, match=needed + ".*same path"):
        train_distributed(ModelSpec("simple_cnn"), {}, {}, config(), no_checkpoint)


def test_cuda_ranks_need_gpus_for_the_executors_tasks(spark, tmp_path: Path):
    on_gpus = runtime(
        device="cuda", engine="spark", num_processes=2, checkpoint_path=str(tmp_path / "c.pt")
    )
    with pytest.raises(ValueError, match="set spark.task.resource.gpu.amount"):
        train_distributed(ModelSpec("simple_cnn"), {}, {}, config(), on_gpus)


def test_an_unknown_engine_is_named():
    with pytest.raises(ValueError, match="runtime.engine must be local or spark, got 'ray'"):
        train_distributed(
            ModelSpec("simple_cnn"), {}, {}, config(), runtime(engine="ray", num_processes=2)
        )
