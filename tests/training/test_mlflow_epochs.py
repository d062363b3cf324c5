"""Per-epoch metrics reach an MLflow run at step = epoch, the machine reaches it as tags; a
failing store never ends training; system metrics while training; which run a resume
continues, or why it cannot."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import mlflow
import pytest
import torch

from eurosat_kedro.training.checkpoint import Progress
from eurosat_kedro.training.mlflow_epochs import (
    EPOCH_METRICS,
    MlflowEpochLogger,
    mlflow_run_of,
    run_to_continue,
    system_metrics,
)


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


def _checkpoint(path: Path, mlflow_run: dict | None) -> Path:
    """A checkpoint file as save_checkpoint writes it, reduced to what run_to_continue reads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"epoch": 1, "mlflow_run": mlflow_run}, path)
    return path


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One sqlite store for this module's resume tests (creating one takes seconds); each
    test makes its own experiment in it."""
    return f"sqlite:///{tmp_path_factory.mktemp('store') / 'mlflow.db'}"


def _store(uri: str, tmp_path: Path) -> tuple[str, mlflow.MlflowClient, str]:
    client = mlflow.MlflowClient(uri)
    return uri, client, client.create_experiment(tmp_path.name, (tmp_path / "mlruns").as_uri())


def test_a_resume_continues_the_run_its_checkpoint_was_written_in(store: str, tmp_path: Path):
    uri, client, experiment = _store(store, tmp_path)
    run = client.create_run(experiment).info.run_id
    path = _checkpoint(tmp_path / "last.pt", {"tracking_uri": uri, "run_id": run})
    assert run_to_continue(str(path), uri, experiment) == run
    assert run_to_continue(str(tmp_path / "none.pt"), uri, experiment) is None  # no checkpoint


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("old", "records no MLflow run"),
        ("other store", "of another store .*set MLFLOW_TRACKING_URI=sqlite:///elsewhere.db"),
        ("deleted", "was deleted; to continue it, restore it .*mlflow runs restore --run-id"),
        ("gone", "is no longer in"),
        ("other experiment", "is in another experiment"),
    ],
)
def test_a_run_that_cannot_be_continued_gives_a_new_run_and_says_why(
    store: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, case: str, message: str
):
    uri, client, experiment = _store(store, tmp_path)
    run = client.create_run(experiment).info.run_id
    recorded = {
        "old": None,
        "other store": {"tracking_uri": "sqlite:///elsewhere.db", "run_id": run},
        "gone": {"tracking_uri": uri, "run_id": "0" * 32},
    }.get(case, {"tracking_uri": uri, "run_id": run})
    if case == "deleted":
        client.delete_run(run)
    if case == "other experiment":
        experiment = client.create_experiment(f"{tmp_path.name}-2", (tmp_path / "mlruns").as_uri())
    path = _checkpoint(tmp_path / "last.pt", recorded)
    with caplog.at_level(logging.WARNING):
        assert run_to_continue(str(path), uri, experiment) is None
    assert re.search(message, caplog.text)
    assert "The training resumes in a new MLflow run" in caplog.text


def test_system_metrics_are_sampled_while_the_block_runs(store: str, tmp_path: Path):
    uri, client, experiment = _store(store, tmp_path)
    run = client.create_run(experiment).info.run_id
    with system_metrics(MlflowEpochLogger(uri, run), interval=0.1):
        time.sleep(0.6)
    with system_metrics(MlflowEpochLogger(uri, run), interval=0.1):  # a continued run
        time.sleep(0.4)
    cpu = client.get_metric_history(run, "system/cpu_utilization_percentage")
    steps = sorted(m.step for m in cpu)
    assert len(steps) >= 3 and steps == list(range(len(steps)))  # one sequence, no repeats
    assert "system/system_memory_usage_megabytes" in client.get_run(run).data.metrics
    with system_metrics(MlflowEpochLogger(uri, run), interval=0):  # off
        pass


def test_the_checkpoint_callback_records_the_run_of_the_mlflow_callback():
    logger = MlflowEpochLogger("sqlite:///x.db", "abc")
    assert mlflow_run_of([object(), logger]) == {"tracking_uri": "sqlite:///x.db", "run_id": "abc"}
    assert mlflow_run_of([]) is None
