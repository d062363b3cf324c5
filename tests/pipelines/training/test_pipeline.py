"""The training pipeline on an in-memory catalog with SequentialRunner, as Kedro's starters
test their pipelines: no session, no files; MLflow only where the node talks to a run."""

from __future__ import annotations

import mlflow
import numpy as np
import pytest
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner

from eurosat_kedro.models import build_model
from eurosat_kedro.pipelines.training import create_pipeline
from eurosat_kedro.registry import split_fingerprint
from tests.conftest import tiny_arrays

CLASSES = [f"class{i}" for i in range(10)]


def _catalog(**training) -> DataCatalog:
    catalog = DataCatalog()
    catalog["train_arrays"] = {
        **tiny_arrays(2),
        "paths": np.array([f"t/{i}.jpg" for i in range(20)]),
    }
    catalog["val_arrays"] = {
        **tiny_arrays(1, seed=1),
        "paths": np.array([f"v/{i}" for i in range(10)]),
    }
    catalog["classes"] = CLASSES
    catalog["teacher_model"] = None  # training.distill.teacher null: no teacher
    catalog["params:model"] = {"name": "simple_cnn", "width": 8}
    catalog["params:training"] = {"epochs": 2, "batch_size": 8, **training}
    catalog["params:runtime"] = {"device": "cpu", "num_threads": 1, "checkpoint_path": None}
    catalog["data_report"] = {"source": {"url": "https://example.org/EuroSAT_RGB.zip"}}
    return catalog


def test_training_pipeline_returns_a_rebuildable_model_and_its_history():
    outputs = SequentialRunner().run(create_pipeline(), _catalog())
    trained = outputs["trained_model"].load()
    history = outputs["training_history"].load()
    assert [row["epoch"] for row in history] == [1, 2]
    assert trained.classes == tuple(CLASSES) and trained.best_epoch in (1, 2)
    model = build_model(trained.spec)
    model.load_state_dict(trained.state_dict)


def test_unknown_model_parameter_is_named():
    catalog = _catalog()
    catalog["params:model"] = {"name": "simple_cnn", "widht": 8}
    with pytest.raises(ValueError, match=r"unknown model parameter\(s\) \['widht'\]"):
        SequentialRunner().run(create_pipeline(), catalog)


def test_an_unknown_runtime_parameter_is_named():
    catalog = _catalog()
    catalog["params:runtime"] = {"num_thread": 1}
    with pytest.raises(ValueError, match=r"unknown runtime parameter\(s\) \['num_thread'\]"):
        SequentialRunner().run(create_pipeline(), catalog)


def test_an_active_mlflow_run_gets_the_machine_as_tags_and_every_epoch(mlflow_experiment: str):
    with mlflow.start_run(experiment_id=mlflow_experiment) as run:
        SequentialRunner().run(create_pipeline(), _catalog(epochs=1))
    logged = mlflow.MlflowClient().get_run(run.info.run_id).data
    assert logged.tags["host.threads"] == "1" and logged.tags["host.device"] == "cpu"
    assert {"host.cpu", "host.cpu_flags", "host.torch"} <= set(logged.tags)
    assert "training.val_accuracy" in logged.metrics


def test_an_active_mlflow_run_lists_the_train_and_val_splits_it_trained_on(
    mlflow_experiment: str,
):
    catalog = _catalog(epochs=1)
    with mlflow.start_run(experiment_id=mlflow_experiment) as run:
        SequentialRunner().run(create_pipeline().only_nodes("log_training_data"), catalog)
    inputs = mlflow.MlflowClient().get_run(run.info.run_id).inputs.dataset_inputs
    contexts = {i.dataset.name: {t.key: t.value for t in i.tags} for i in inputs}
    assert contexts["eurosat-train"]["mlflow.data.context"] == "training"
    assert contexts["eurosat-val"]["mlflow.data.context"] == "validation"
    train = next(i.dataset for i in inputs if i.dataset.name == "eurosat-train")
    assert train.digest == split_fingerprint(catalog.load("train_arrays"))[:36]
    assert "https://example.org/EuroSAT_RGB.zip" in train.source


def test_system_metrics_reach_the_run_while_it_trains(mlflow_experiment: str):
    catalog = _catalog(epochs=3)
    catalog["params:runtime"] = {"device": "cpu", "num_threads": 1, "system_metrics_interval": 0.1}
    with mlflow.start_run(experiment_id=mlflow_experiment) as run:
        SequentialRunner().run(create_pipeline().only_nodes("train_model"), catalog)
    metrics = mlflow.MlflowClient().get_run(run.info.run_id).data.metrics
    assert {"system/cpu_utilization_percentage", "system/system_memory_usage_megabytes"} <= set(
        metrics
    )
