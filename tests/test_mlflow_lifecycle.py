"""The MLflow model lifecycle with real components: a real `mlflow server` receiving a sample
run, the champion gate across runs, serving the champion by alias, training curves that reach
MLflow while training runs, and a clear error for an unreachable server."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import requests

from eurosat_kedro.ports import free_port
from tests.conftest import (
    copy_trained_data,
    mlflow_serve_command,
    run_session,
    running_server,
    stop_process_group,
)

MODEL = "eurosat-landuse-sample"  # the sample environment's registered model


def _sample_image(project: Path) -> Path:
    folder = project / "data" / "sample" / "01_raw" / "extracted" / "EuroSAT_RGB" / "Forest"
    return sorted(folder.iterdir())[0]


@pytest.mark.slow
def test_runs_against_a_tracking_server_and_the_champion_gate(
    trained_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A sample run logs everything to a real `mlflow server` (artifacts proxied) and becomes
    version 1 = champion; a deliberately worse run becomes version 2 = challenger with the
    reason; `promote=always` makes its redeployment version 3 = champion."""
    store = tmp_path / "server"
    store.mkdir()
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        f"sqlite:///{store / 'mlflow.db'}",
        "--artifacts-destination",
        str(store / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--workers",
        "1",
    ]
    project = copy_trained_data(trained_project, tmp_path / "project")
    monkeypatch.chdir(project)
    with running_server(command, store, "/health") as url:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        run_session(project, env="sample")
        client = mlflow.MlflowClient(tracking_uri=url)
        experiment = client.get_experiment_by_name("eurosat-sample")
        (run,) = client.search_runs([experiment.experiment_id])
        assert run.data.params["model.name"] == "simple_cnn"
        steps = [
            m.step for m in client.get_metric_history(run.info.run_id, "training.val_accuracy")
        ]
        assert steps == [1, 2, 3, 4, 5, 6]
        plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
        assert "plots/confusion_matrix.png" in plots
        assert not (project / "mlflow.db").exists() and not (project / "mlruns").exists()
        assert any((store / "artifacts").rglob("MLmodel"))  # uploaded through the server
        first = client.get_model_version_by_alias(MODEL, "champion")
        assert str(first.version) == "1" and first.run_id == run.info.run_id
        accuracy = float(first.tags["test_accuracy"])

        # one epoch at a learning rate of almost nothing: a worse model on the same split
        run_session(
            project,
            env="sample",
            pipeline=["training", "evaluation", "deployment"],
            params={"training.epochs": 1, "training.lr": 1e-6},
        )
        report = json.loads(
            (project / "data" / "sample" / "08_reporting" / "registry.json").read_text()
        )
        worse = client.get_model_version(MODEL, "2")
        assert float(worse.tags["test_accuracy"]) < accuracy
        assert report["version"] == "2" and report["alias"] == "challenger"
        assert "not better than the champion" in report["reason"]
        assert report["gate"]["n_images"] == 40 and report["gate"]["n01"] > report["gate"]["n10"]
        assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "1"
        assert str(client.get_model_version_by_alias(MODEL, "challenger").version) == "2"
        assert worse.tags["promotion"].startswith("challenger: test accuracy")
        assert worse.tags["data_fingerprint"] == first.tags["data_fingerprint"]

        run_session(
            project,
            env="sample",
            pipeline="deployment",
            params={"deployment.registry.promote": "always"},
        )
        assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "3"


@pytest.mark.slow
def test_mlflow_models_serve_answers_for_the_champion_alias(
    trained_copy: Path,
):
    # the served model's allowed root is data/ of the cwd, the copy (trained_copy chdirs there)
    uri = f"sqlite:///{trained_copy / 'mlflow.db'}"
    command = mlflow_serve_command(f"models:/{MODEL}@champion")
    with running_server(
        command,
        trained_copy,
        "/ping",
        env={"MLFLOW_TRACKING_URI": uri, "EUROSAT_ALLOWED_ROOTS": ""},
    ) as url:
        image = _sample_image(trained_copy).relative_to(trained_copy)
        body = {"dataframe_split": {"columns": ["image_path"], "data": [[str(image)]]}}
        response = requests.post(f"{url}/invocations", json=body, timeout=30)
    assert response.status_code == 200, response.text
    (prediction,) = response.json()["predictions"]
    local = mlflow.pyfunc.load_model(
        str(trained_copy / "data" / "sample" / "06_models" / "mlflow_model")
    )
    expected = local.predict(pd.DataFrame({"image_path": [str(image)]})).iloc[0]
    assert prediction["predicted_class"] == expected["predicted_class"]
    assert prediction["probabilities"] == pytest.approx(expected["probabilities"], abs=1e-6)


def test_a_trained_copy_has_the_champion_and_keeps_its_artifacts_to_itself(trained_copy: Path):
    """What the ``trained_copy`` fixture promises: the sample run's registry, with every
    artifact location moved into the copy, so what a test logs there stays there."""
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{trained_copy / 'mlflow.db'}")
    champion = client.get_model_version_by_alias(MODEL, "champion")
    run = client.get_run(champion.run_id)
    experiment = client.get_experiment(run.info.experiment_id)
    (logged,) = [
        model
        for model in client.search_logged_models([experiment.experiment_id])
        if model.source_run_id == run.info.run_id
    ]
    inside = trained_copy.as_uri()
    assert experiment.artifact_location.startswith(inside)
    assert run.info.artifact_uri.startswith(inside)
    assert logged.artifact_location.startswith(inside)
    local = Path(client.download_artifacts(run.info.run_id, "model", str(trained_copy / "dl")))
    assert (local / "model.pt").is_file()
    assert (Path(logged.artifact_location.removeprefix("file://")) / "MLmodel").is_file()


def _epochs_logged(store: Path) -> list[int]:
    """The steps of training.val_loss in the store, read-only: an MlflowClient would run the
    store's schema migrations and could collide with the training process creating it."""
    try:
        with closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as db:
            rows = db.execute(
                "SELECT DISTINCT step FROM metrics WHERE key = 'training.val_loss' ORDER BY step"
            ).fetchall()
    except sqlite3.Error:  # the training process is still creating the store
        return []
    return [step for (step,) in rows]


def _epochs_in(client: mlflow.MlflowClient) -> list[int]:
    experiment = client.get_experiment_by_name("eurosat-sample")
    if experiment is None:
        return []
    runs = client.search_runs([experiment.experiment_id])
    return [
        m.step
        for run in runs
        for m in client.get_metric_history(run.info.run_id, "training.val_loss")
    ]


@pytest.mark.slow
def test_training_curves_reach_mlflow_while_training_runs(trained_project: Path, tmp_path: Path):
    project = copy_trained_data(trained_project, tmp_path / "project")
    environment = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"}
    environment.pop("MLFLOW_TRACKING_URI", None)
    kedro = Path(sys.executable).parent / "kedro"
    with open(tmp_path / "train.log", "wb") as log:
        process = subprocess.Popen(
            [
                str(kedro),
                "run",
                "--env",
                "sample",
                "--pipelines",
                "training",
                "--params",
                "training.epochs=500,training.patience=0",
            ],
            cwd=project,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 180
        steps: list[int] = []
        while len(steps) < 2:
            assert process.poll() is None, (tmp_path / "train.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "no epoch metrics reached MLflow in 180 s"
            time.sleep(1)
            if (project / "mlflow.db").exists():
                steps = _epochs_logged(project / "mlflow.db")
        assert process.poll() is None  # still training: the curves are live
        assert steps[:2] == [1, 2]
    finally:
        stop_process_group(process)


def test_an_unreachable_tracking_server_is_named_before_any_work(
    project: Path, monkeypatch: pytest.MonkeyPatch
):
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    started = time.monotonic()
    with pytest.raises(ConnectionError, match=f"tracking server {url} .*cannot be reached"):
        run_session(project, env="sample")
    assert time.monotonic() - started < 30
    assert not (project / "data" / "sample" / "01_raw" / "extracted").exists()


class _KilledInEpoch(logging.Handler):
    """Fails the training when the log line of ``epoch`` arrives: after the previous epoch's
    checkpoint and MLflow metrics, before this epoch's, as a run killed mid-way would."""

    def __init__(self, epoch: int):
        super().__init__()
        self.line = f"epoch {epoch}/"

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith(self.line):
            raise RuntimeError(f"interrupted in {self.line}")


@pytest.mark.slow
def test_a_resumed_training_continues_its_mlflow_run(project: Path):
    """Train 2 epochs, interrupted during the 2nd; resume: one MLflow run, steps 1 and 2,
    FINISHED, the changed runtime.resume kept as a tag, system metrics in one sequence, and
    an experiment that existed before marked as model development."""
    uri = f"sqlite:///{project / 'mlflow.db'}"
    client = mlflow.MlflowClient(uri)
    client.create_experiment("eurosat-sample", (project / "mlruns").as_uri())  # no kind yet
    run_session(project, env="sample", pipeline="data_processing")
    params = {"training.epochs": 2, "runtime.system_metrics_interval": 0.2}
    epochs = logging.getLogger("eurosat_kedro.training.callbacks")
    killer = _KilledInEpoch(2)
    epochs.addHandler(killer)
    try:
        with pytest.raises(RuntimeError, match="interrupted in epoch 2/"):
            run_session(project, env="sample", pipeline="training", params=params)
    finally:
        epochs.removeHandler(killer)
    experiment = client.get_experiment_by_name("eurosat-sample")
    (killed,) = client.search_runs([experiment.experiment_id], "tags.mlflow.runName = 'training'")
    assert killed.info.status == "FAILED"

    run_session(
        project, env="sample", pipeline="training", params={**params, "runtime.resume": True}
    )
    (run,) = client.search_runs([experiment.experiment_id], "tags.mlflow.runName = 'training'")
    assert run.info.run_id == killed.info.run_id and run.info.status == "FINISHED"
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "training.val_loss")]
    assert steps == [1, 2]
    assert run.data.params["runtime.resume"] == "False"  # as the run began
    assert run.data.tags["resumed.runtime.resume"] == "True"
    cpu = client.get_metric_history(run.info.run_id, "system/cpu_utilization_percentage")
    assert len(cpu) >= 2 and len({m.step for m in cpu}) == len(cpu)  # one sequence, continued
    kind = client.get_experiment(experiment.experiment_id).tags["mlflow.experimentKind"]
    assert kind == "custom_model_development"
