"""The deployment's register_model step in a real MLflow sqlite registry: each version keeps
the served model's per-image test predictions, and the next one is paired with them."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from eurosat_kedro.pipelines.deployment.nodes import register_model, score_served_model
from eurosat_kedro.serving.contract import ServingConfig
from eurosat_kedro.serving.model_card import ModelCard
from eurosat_kedro.serving.package import PyfuncPackage
from tests.conftest import tiny_onnx

CLASSES = tuple(f"class{i}" for i in range(10))
N_IMAGES = 400
LABELS = np.arange(N_IMAGES) % 10
SPLIT = "f" * 64
PARAMS = {"model_name": "gate-test", "promote": "auto", "min_improvement": 0.0, "alpha": 0.05}


def _right(fixed: int = 0, broken: int = 0) -> np.ndarray:
    """Which test images a model gets right: the first 40 wrong (the champion), less
    ``fixed`` of them, plus ``broken`` of the others."""
    right = np.arange(N_IMAGES) >= 40
    right[:fixed] = True
    right[40 : 40 + broken] = False
    return right


def _predictions(fp32_right: np.ndarray, int8_right: np.ndarray) -> pd.DataFrame:
    """compare_int8's per-image output: path, label, fp32 and int8 predicted labels."""
    wrong = (LABELS + 1) % 10
    return pd.DataFrame(
        {
            "path": [f"class{label}/{i}.jpg" for i, label in enumerate(LABELS)],
            "label": LABELS,
            "fp32": np.where(fp32_right, LABELS, wrong),
            "int8": np.where(int8_right, LABELS, wrong),
        }
    )


@pytest.fixture
def deploy(mlflow_experiment: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Log a tiny served model in a new run of the test's store and register it with
    register_model, serving ``precision`` with the given per-image results."""
    monkeypatch.chdir(tmp_path)

    def run(fp32_right: np.ndarray, int8_right: np.ndarray, precision: str = "fp32") -> dict:
        card = ModelCard(CLASSES, model_name="simple_cnn", precision=precision)
        onnx_model = tiny_onnx(card.to_props())
        with mlflow.start_run(experiment_id=mlflow_experiment):
            info = PyfuncPackage(onnx_model, ServingConfig(CLASSES, precision=precision)).log()
            logged = {
                "logged": True,
                "model_uri": info.model_uri,
                "model_id": info.model_id,
                "run_id": info.run_id,
            }
            onnx_test_scores = {
                "fp32": {"accuracy": fp32_right.mean(), "macro_f1": fp32_right.mean()},
                "int8": {"accuracy": int8_right.mean(), "macro_f1": int8_right.mean()},
            }
            predictions = _predictions(fp32_right, int8_right)
            scores = score_served_model(onnx_model, onnx_test_scores)
            return register_model(logged, onnx_model, scores, predictions, SPLIT, PARAMS)

    return run


@pytest.mark.filterwarnings("ignore:.*An input example was not provided")
def test_the_gate_promotes_only_a_significantly_better_version(deploy, tmp_path: Path):
    client = mlflow.MlflowClient()
    first = deploy(_right(), _right())
    assert first["alias"] == "champion" and first["gate"] is None

    # 3 more test images right of 400: better, but noise could do that
    second = deploy(_right(fixed=3), _right(fixed=3))
    assert second["alias"] == "challenger" and "not significantly" in second["reason"]
    assert second["gate"] == {
        "test": "McNemar exact (two-sided binomial on the discordant images)",
        "n_images": 400,
        "n01": 0,
        "n10": 3,
        "p_value": pytest.approx(0.25),
        "champion_accuracy": pytest.approx(0.9),
        "new_accuracy": pytest.approx(0.9075),
        "gain_points": pytest.approx(0.75),
        "champion_version": "1",
        "alpha": 0.05,
        "min_improvement": 0.0,
    }
    tags = client.get_model_version("gate-test", "2").tags
    assert (tags["gate.n01"], tags["gate.n10"], tags["gate.p_value"]) == ("0", "3", "0.25")
    assert tags["gate.decision"] == "challenger"
    assert tags["promotion"].startswith("challenger: test accuracy 0.9075 vs the champion's")

    # served in int8: the int8 predictions (35 fixed, 5 broken) are what the gate pairs,
    # not the fp32 ones (no better than the champion)
    third = deploy(_right(), _right(fixed=35, broken=5), precision="int8")
    assert third["alias"] == "champion", third["reason"]
    assert (third["gate"]["n01"], third["gate"]["n10"]) == (5, 35)
    assert third["gate"]["p_value"] < 1e-5 and third["tags"]["precision"] == "int8"
    assert str(client.get_model_version_by_alias("gate-test", "champion").version) == "3"
    assert client.get_model_version("gate-test", "3").tags["gate.n10"] == "35"

    # the champion's stored predictions are gone: no blind promotion, and the reason says why
    stored = third["tags"]["test_predictions"].split("/", 2)[-1]  # runs:/<run>/<path>
    (artifact,) = [
        path
        for path in (tmp_path / "mlruns").rglob("served_test_predictions.csv")
        if path.as_posix().endswith(stored)
    ]
    artifact.unlink()
    fourth = deploy(np.ones(N_IMAGES, bool), np.ones(N_IMAGES, bool))
    assert fourth["alias"] == "challenger" and fourth["gate"] is None
    assert "the champion (version 3): its per-image test predictions" in fourth["reason"]
    assert "could not be read" in fourth["reason"] and "promote=always" in fourth["reason"]


@pytest.mark.parametrize(
    ("precision", "expected"),
    [
        ("fp32", {"accuracy": 0.9, "accuracy_ci_low": 0.8, "accuracy_ci_high": 0.95}),
        ("int8", {"accuracy": 0.7}),  # as much as the comparison has
    ],
)
def test_the_served_scores_are_those_of_the_precision_served(precision: str, expected: dict):
    onnx_test_scores = {
        "fp32": {"accuracy": 0.9, "accuracy_ci_low": 0.8, "accuracy_ci_high": 0.95, "loss": 1.0},
        "int8": {"accuracy": 0.7},
    }
    served = tiny_onnx(ModelCard(CLASSES, precision=precision).to_props())
    assert score_served_model(served, onnx_test_scores) == expected
