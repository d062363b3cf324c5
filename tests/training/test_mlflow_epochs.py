"""Per-epoch metrics reach an MLflow run at step = epoch, the machine reaches it as tags; a
failing store never ends training."""

from __future__ import annotations

import logging
from pathlib import Path

import mlflow

from eurosat_kedro.training.checkpoint import Progress
from eurosat_kedro.training.mlflow_epochs import EPOCH_METRICS, MlflowEpochLogger


def _record(epoch: int) -> dict[str, float]:
    return {"epoch": epoch, **{key: 0.1 * epoch for key in EPOCH_METRICS}}


def test_each_epoch_is_one_point_at_its_step(tmp_path: Path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.MlflowClient(uri)
    run = client.create_run(client.create_experiment("epochs"))
    log = MlflowEpochLogger(uri, run.info.run_id)
    for epoch in (1, 2, 3):  # a resumed run goes on at the epoch it reached
        log.on_epoch_end(Progress(history=[_record(epoch)], epoch=epoch))
    for key in EPOCH_METRICS:
        history = client.get_metric_history(run.info.run_id, f"training.{key}")
        assert [(m.step, round(m.value, 6)) for m in history] == [(1, 0.1), (2, 0.2), (3, 0.3)]


def test_a_failing_store_is_a_warning_not_a_crash(tmp_path: Path, caplog):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.MlflowClient(uri).create_experiment("epochs")  # a store without that run
    with caplog.at_level(logging.WARNING):
        MlflowEpochLogger(uri, "0" * 32).log(_record(4))
        MlflowEpochLogger(uri, "0" * 32).set_tags({"host.cpu": "x"})
    assert "Epoch 4 metrics did not reach MLflow" in caplog.text
    assert "The run's tags did not reach MLflow" in caplog.text


def test_tags_reach_the_run(tmp_path: Path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.MlflowClient(uri)
    run = client.create_run(client.create_experiment("tags"))
    MlflowEpochLogger(uri, run.info.run_id).set_tags({"host.cpu": "Some CPU", "host.threads": "2"})
    tags = client.get_run(run.info.run_id).data.tags
    assert tags["host.cpu"] == "Some CPU" and tags["host.threads"] == "2"
