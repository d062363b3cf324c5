"""The deployment pipeline on an in-memory catalog with SequentialRunner: export, checks,
int8, the logged pyfunc, and its registration, with a real MLflow store in a temporary
folder."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner
from kedro_datasets.json import JSONDataset

from eurosat_kedro.models import ModelSpec, TrainedModel, build_model
from eurosat_kedro.pipelines.deployment import create_pipeline
from eurosat_kedro.serving.package import PyfuncPackage

CLASSES = [f"class{i}" for i in range(10)]


def _arrays(n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "images": rng.integers(0, 256, (n, 64, 64, 3), dtype=np.uint8),
        "labels": np.arange(n) % 10,
        "paths": np.array([f"x/{seed}_{i}.jpg" for i in range(n)]),
    }


def _catalog(tmp_path: Path) -> DataCatalog:
    torch.manual_seed(0)
    spec = ModelSpec("simple_cnn", width=8)
    catalog = DataCatalog(
        {"logged_model": JSONDataset(filepath=str(tmp_path / "logged_model.json"))}
    )
    catalog["trained_model"] = TrainedModel(build_model(spec).state_dict(), spec, tuple(CLASSES))
    catalog["test_arrays"] = _arrays(20, seed=1)
    catalog["val_arrays"] = _arrays(10, seed=2)
    catalog["calibration"] = {"temperature": 1.7, "tta": False, "unknown_threshold": 0.2}
    catalog["classes"] = CLASSES
    catalog["metrics"] = {"accuracy": 0.5, "macro_f1": 0.4}
    params = {
        "deployment.onnx_opset": 18,
        "evaluation.tta": False,
        "deployment.full_map_convs_as_matmul": True,
        "deployment.parity_images": 8,
        "deployment.parity_tolerance": 1e-4,
        "deployment.int8.calibration_images": 8,
        "deployment.int8.max_accuracy_drop": 100.0,
        "deployment.serve_precision": "fp32",
        "deployment.topk": 3,
        "deployment.allowed_roots": [str(tmp_path)],
        "deployment.registry": {"model_name": "tiny", "promote": "auto", "min_improvement": 0},
    }
    for key, value in params.items():
        catalog[f"params:{key}"] = value
    return catalog


@pytest.fixture
def store(mlflow_experiment: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An MLflow store of its own, with tmp_path as the working directory."""
    monkeypatch.chdir(tmp_path)
    return mlflow_experiment


def test_the_logged_model_is_what_gets_registered(tmp_path: Path, store: str):
    catalog = _catalog(tmp_path)
    with mlflow.start_run(experiment_id=store) as run:
        outputs = SequentialRunner().run(create_pipeline(), catalog)
    logged = catalog["logged_model"].load()
    assert logged["logged"] and logged["run_id"] == run.info.run_id
    assert mlflow.get_logged_model(logged["model_id"]).source_run_id == run.info.run_id
    report = outputs["registry_report"].load()
    assert report["registered"] and report["alias"] == "champion"
    version = mlflow.MlflowClient().get_model_version("tiny", report["version"])
    assert version.source == logged["model_uri"] or version.model_id == logged["model_id"]
    # the served (fp32 ONNX) model's own test scores, from the int8 comparison
    compared = outputs["int8_report"].load()
    served_scores = {
        key.removeprefix("fp32_"): value
        for key, value in compared.items()
        if key.startswith("fp32_")
    }
    assert version.tags["test_accuracy"] == f"{compared['fp32_accuracy']:.6f}"
    package = outputs["mlflow_model"].load()
    assert isinstance(package, PyfuncPackage)
    # the served model's config records what its version's tags say it scored
    assert package.config.test_scores == served_scores
    assert mlflow.get_run(run.info.run_id).data.tags["registry.alias"] == "champion"


def test_an_equal_model_becomes_challenger(tmp_path: Path, store: str):
    for _ in range(2):
        with mlflow.start_run(experiment_id=store):
            outputs = SequentialRunner().run(create_pipeline(), _catalog(tmp_path))
    report = outputs["registry_report"].load()
    assert report["version"] == "2" and report["alias"] == "challenger"
    assert report["gate"]["n01"] == report["gate"]["n10"] == 0  # the same predictions
    assert "not better than the champion" in report["reason"]


def test_without_an_mlflow_run_nothing_is_logged_or_registered(tmp_path: Path, store: str):
    assert mlflow.active_run() is None
    pipeline = create_pipeline().only_nodes(
        "score_served_model", "log_mlflow_model", "register_model"
    )
    catalog = _catalog(tmp_path)
    catalog["serving_onnx_model"] = (
        SequentialRunner()
        .run(create_pipeline().only_nodes("export_onnx"), _catalog(tmp_path))["onnx_model"]
        .load()
    )
    catalog["onnx_test_scores"] = {"fp32": {"accuracy": 1.0}, "int8": {}}
    catalog["onnx_test_predictions"] = pd.DataFrame(
        {"path": ["x/1.jpg"], "label": [0], "fp32": [0], "int8": [0]}
    )
    catalog["test_split_fingerprint"] = "f" * 64
    outputs = SequentialRunner().run(pipeline, catalog)
    assert catalog["logged_model"].load()["logged"] is False
    report = outputs["registry_report"].load()
    assert not report["registered"] and "no MLflow run is active" in report["reason"]
