"""The evaluation pipeline on an in-memory catalog with SequentialRunner."""

from __future__ import annotations

import mlflow
import numpy as np
import torch
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner
from matplotlib.figure import Figure

from eurosat_kedro.models import ModelSpec, TrainedModel, build_model
from eurosat_kedro.pipelines.evaluation import create_pipeline
from eurosat_kedro.registry import split_fingerprint
from tests.conftest import tiny_arrays

CLASSES = [f"class{i}" for i in range(10)]


def _catalog() -> DataCatalog:
    torch.manual_seed(0)
    spec = ModelSpec("simple_cnn", width=8)
    test = {**tiny_arrays(2, seed=3), "paths": np.array([f"t/{i}.jpg" for i in range(20)])}
    catalog = DataCatalog()
    catalog["trained_model"] = TrainedModel(build_model(spec).state_dict(), spec, tuple(CLASSES))
    catalog["test_arrays"] = test
    catalog["classes"] = CLASSES
    catalog["training_history"] = [
        {"epoch": 1, "train_loss": 2.0, "val_loss": 2.1, "val_accuracy": 0.2}
    ]
    catalog["params:evaluation.batch_size"] = 8
    catalog["params:evaluation.tta"] = False
    catalog["params:evaluation.misclassified_grid_size"] = 6
    catalog["data_report"] = {"source": {"url": "https://example.org/EuroSAT_RGB.zip"}}
    return catalog


def test_evaluation_scores_the_test_split():
    scoring = create_pipeline().only_nodes("predict_test_split", "compute_metrics")
    outputs = SequentialRunner().run(scoring, _catalog())
    metrics = outputs["metrics"].load()
    matrix = np.array(metrics["confusion_matrix"])
    assert metrics["n_images"] == 20 == matrix.sum()
    assert metrics["accuracy"] == np.trace(matrix) / 20
    assert matrix.sum(axis=1).tolist() == [2] * 10  # every true class counted once per image
    assert outputs["test_metrics"].load()["accuracy"]["value"] == metrics["accuracy"]


def test_evaluation_draws_every_plot():
    outputs = SequentialRunner().run(create_pipeline(), _catalog())
    for plot in ("loss_curves_plot", "val_acc_plot", "confusion_matrix_plot", "misclassified_plot"):
        assert isinstance(outputs[plot].load(), Figure), plot


def test_an_active_mlflow_run_lists_the_test_split_it_was_scored_on(mlflow_experiment: str):
    catalog = _catalog()
    with mlflow.start_run(experiment_id=mlflow_experiment) as run:
        SequentialRunner().run(create_pipeline().only_nodes("log_test_data"), catalog)
    (test,) = mlflow.MlflowClient().get_run(run.info.run_id).inputs.dataset_inputs
    assert {t.key: t.value for t in test.tags}["mlflow.data.context"] == "test"
    assert test.dataset.digest == split_fingerprint(catalog.load("test_arrays"))[:36]
