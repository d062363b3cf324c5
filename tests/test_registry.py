"""The test-split fingerprint (no MLflow store needed); the descriptions of the registered
model and its versions, and the per-image predictions a version keeps (in a store of the
test's own). The gate itself: tests/test_champion_gate.py."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
from kedro.config import OmegaConfigLoader

from eurosat_kedro.registry import (
    model_description,
    read_predictions,
    register_logged_model,
    split_fingerprint,
    tagged_scores,
)
from eurosat_kedro.serving.contract import INPUT_COLUMNS, ServingConfig
from eurosat_kedro.serving.package import PyfuncPackage
from eurosat_kedro.settings import CONFIG_LOADER_ARGS
from tests.conftest import CLASSES, PROJECT_ROOT, tiny_onnx

SPLIT = "a" * 64


def _split(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "images": rng.integers(0, 256, (4, 64, 64, 3), dtype=np.uint8),
        "labels": np.array([0, 1, 2, 3]),
        "paths": np.array(
            [
                "Forest/Forest_1.jpg",
                "River/River_1.jpg",
                "SeaLake/SeaLake_1.jpg",
                "Highway/Highway_1.jpg",
            ]
        ),
    }


def test_the_served_scores_are_read_back_from_a_versions_tags():
    tags = {
        "test_accuracy": "0.912500",
        "test_accuracy_ci_low": "0.880000",
        "test_macro_f1": "0.900000",
        "test_predictions": "runs:/abc/registry/m/served_test_predictions.csv",  # not a score
        "precision": "fp32",
    }
    assert tagged_scores(tags) == {
        "accuracy": 0.9125,
        "accuracy_ci_low": 0.88,
        "macro_f1": 0.9,
    }


def test_the_fingerprint_changes_with_any_pixel_label_or_path():
    base = split_fingerprint(_split())
    assert base == split_fingerprint(_split()) and len(base) == 64
    changed = _split()
    changed["images"][2, 10, 10, 1] ^= 1
    assert split_fingerprint(changed) != base
    changed = _split()
    changed["labels"][0] = 5
    assert split_fingerprint(changed) != base
    changed = _split()
    changed["paths"][3] = "Highway/Highway_2.jpg"
    assert split_fingerprint(changed) != base


TAGS = {
    "model_name": "simple_cnn",
    "precision": "fp32",
    "tta": "true",
    "test_accuracy": "0.987200",
    "test_accuracy_ci_low": "0.983400",
    "test_accuracy_ci_high": "0.990200",
    "test_macro_f1": "0.986500",
    "data_fingerprint": SPLIT,
    "git_commit": "abc123",
}


@pytest.mark.filterwarnings("ignore:.*An input example was not provided")
def test_the_registered_model_and_each_version_are_described(mlflow_experiment: str):
    classes = tuple(CLASSES)
    package = PyfuncPackage(tiny_onnx({"classes": ",".join(classes)}), ServingConfig(classes))
    with mlflow.start_run(experiment_id=mlflow_experiment) as run:
        info = package.log()
    logged = {"model_uri": info.model_uri, "model_id": info.model_id, "run_id": run.info.run_id}
    about = "Toy models of the sample: never serve them."
    predictions = pd.DataFrame(
        {"path": ["Forest/Forest_1.jpg", "River/River_1.jpg"], "label": [1, 8], "predicted": [1, 9]}
    )
    report = register_logged_model(
        "landuse-test",
        logged,
        {**TAGS, "run_id": run.info.run_id},
        predictions,
        model_text=model_description(classes, about),
    )

    client = mlflow.MlflowClient()
    model = client.get_registered_model("landuse-test").description
    assert model.startswith(about) and "0 AnnualCrop, 1 Forest" in model and "9 SeaLake" in model
    assert all(f"`{column}`" in model for column in INPUT_COLUMNS)
    assert "`on_error` (raise | row)" in model
    version = client.get_model_version("landuse-test", report["version"]).description
    assert "Model `simple_cnn`, fp32 weights, test-time augmentation on." in version
    assert "Test accuracy 0.9872 (95% CI 0.9834-0.9902), macro F1 0.9865" in version
    assert SPLIT[:12] in version
    assert f"MLflow run `{run.info.run_id}`, commit `abc123`" in version
    stored = client.get_model_version("landuse-test", report["version"]).tags["test_predictions"]
    artifact = f"registry/{info.model_id}/served_test_predictions.csv"
    assert stored == f"runs:/{run.info.run_id}/{artifact}"
    pd.testing.assert_frame_equal(read_predictions(stored), predictions)


def test_the_sample_environment_registers_under_its_own_name():
    def registry_of(env: str) -> dict:
        loader = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), env=env, **CONFIG_LOADER_ARGS)
        return loader["parameters"]["deployment"]["registry"]

    base, sample = registry_of("base"), registry_of("sample")
    assert base["model_name"] == "eurosat-landuse"
    assert sample["model_name"] == "eurosat-landuse-sample"
    assert sample["promote"] == base["promote"]  # the rest of the block is base's
    assert "300-image sample" in sample["description"]
