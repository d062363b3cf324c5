"""The int8 variant: quantisation, its test-split comparison, and the serving choice."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from eurosat_kedro.datasets import OnnxModelDataset, PyfuncModelDataset
from eurosat_kedro.models.quantize import QuantizationError
from eurosat_kedro.pipelines.deployment.nodes import (
    Int8AccuracyError,
    compare_int8,
    log_mlflow_model,
    quantize_onnx_int8,
    select_serving_model,
)
from eurosat_kedro.serving.classifier import OnnxClassifier
from eurosat_kedro.stats import wilson_interval


def _models(project: Path):
    models = project / "data" / "sample" / "06_models"
    return (
        OnnxModelDataset(str(models / "model.onnx")).load(),
        OnnxModelDataset(str(models / "model_int8.onnx")).load(),
    )


def _arrays(project: Path, split: str) -> dict:
    return dict(np.load(project / "data" / "sample" / "05_model_input" / f"{split}.npz"))


def test_the_run_writes_a_quantised_model_and_its_comparison(trained_project: Path):
    fp32, int8 = _models(trained_project)
    ops = {node.op_type for node in int8.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    meta = {p.key: p.value for p in int8.metadata_props}
    assert meta["precision"] == "int8" and len(meta) == len(int8.metadata_props)
    assert {p.key: p.value for p in fp32.metadata_props}["precision"] == "fp32"
    assert meta["classes"] == {p.key: p.value for p in fp32.metadata_props}["classes"]
    report = json.loads(
        (trained_project / "data" / "sample" / "08_reporting" / "int8_report.json").read_text()
    )
    test = _arrays(trained_project, "test")
    assert report["n_images"] == len(test["labels"])
    assert report["accuracy_drop_points"] == pytest.approx(
        100 * (report["fp32_accuracy"] - report["int8_accuracy"])
    )
    assert report["prediction_agreement"] >= 0.9  # int8 keeps nearly every decision


def test_quantisation_is_deterministic_and_matches_the_report(trained_project: Path):
    fp32, int8 = _models(trained_project)
    again = quantize_onnx_int8(fp32, _arrays(trained_project, "val"), 512)
    assert again.SerializeToString() == int8.SerializeToString()
    classes = json.loads(
        (trained_project / "data" / "sample" / "02_intermediate" / "classes.json").read_text()
    )
    test = _arrays(trained_project, "test")
    report, metrics, drop, per_image, scores = compare_int8(fp32, again, test, classes)
    saved = json.loads(
        (trained_project / "data" / "sample" / "08_reporting" / "int8_report.json").read_text()
    )
    assert report == saved and drop == saved["accuracy_drop_points"]
    assert metrics["int8_accuracy"]["value"] == saved["int8_accuracy"]
    # the scores per precision: the report's figures, what the served model records
    for precision in ("fp32", "int8"):
        assert scores[precision] == {
            key.removeprefix(f"{precision}_"): value
            for key, value in saved.items()
            if key.startswith(f"{precision}_")
        }
    # each model's predicted label per test image, what the registry's gate pairs
    assert list(per_image.columns) == ["path", "label", "fp32", "int8"]
    assert list(per_image["path"]) == list(test["paths"])
    assert (per_image["int8"] == per_image["label"]).mean() == saved["int8_accuracy"]
    saved_per_image = pd.read_csv(
        trained_project / "data" / "sample" / "07_model_output" / "onnx_test_predictions.csv"
    )
    pd.testing.assert_frame_equal(saved_per_image, per_image, check_dtype=False)


def test_the_int8_report_gives_95_percent_intervals(trained_project: Path):
    report = json.loads(
        (trained_project / "data" / "sample" / "08_reporting" / "int8_report.json").read_text()
    )
    for precision in ("fp32", "int8"):
        for figure in ("accuracy", "macro_f1"):
            low, high = (report[f"{precision}_{figure}_ci_{end}"] for end in ("low", "high"))
            assert 0 <= low <= report[f"{precision}_{figure}"] <= high <= 1
    n_right = round(report["int8_accuracy"] * report["n_images"])
    assert (report["int8_accuracy_ci_low"], report["int8_accuracy_ci_high"]) == pytest.approx(
        wilson_interval(n_right, report["n_images"])
    )
    assert report["intervals"]["confidence"] == 0.95


def test_quantisation_without_validation_images_says_what_to_fix(trained_project: Path):
    fp32, _ = _models(trained_project)
    empty = {"images": np.zeros((0, 64, 64, 3), np.uint8), "labels": np.zeros(0, int)}
    with pytest.raises(QuantizationError, match="calibration_images"):
        quantize_onnx_int8(fp32, empty, 512)


def test_int8_is_served_only_within_the_allowed_accuracy_drop(trained_project: Path):
    fp32, int8 = _models(trained_project)
    assert select_serving_model(fp32, int8, 1.0, "fp32", 0.5) is fp32
    assert select_serving_model(fp32, int8, 1.0, "int8", 1.5) is int8
    with pytest.raises(Int8AccuracyError, match="loses 1.00 points.*serve_precision=fp32"):
        select_serving_model(fp32, int8, 1.0, "int8", 0.5)
    with pytest.raises(ValueError, match="serve_precision must be one of"):
        select_serving_model(fp32, int8, 1.0, "fp16", 0.5)


def _png_b64(image: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def test_an_int8_pyfunc_model_serves_the_int8_predictions(trained_project: Path, tmp_path: Path):
    _, int8 = _models(trained_project)
    test = _arrays(trained_project, "test")
    classes = json.loads(
        (trained_project / "data" / "sample" / "02_intermediate" / "classes.json").read_text()
    )
    folder = tmp_path / "mlflow_model_int8"
    scores = {"accuracy": 0.9, "accuracy_ci_low": 0.8, "accuracy_ci_high": 0.95}
    PyfuncModelDataset(str(folder)).save(
        log_mlflow_model(int8, classes, test, scores, 3, [str(tmp_path)])[0]
    )
    config = json.loads((folder / "artifacts" / "config.json").read_text())
    assert config["precision"] == "int8" and config["test_scores"] == scores
    expected = OnnxClassifier(int8.SerializeToString(), classes).logits(test["images"]).argmax(1)
    served = (
        PyfuncModelDataset(str(folder))
        .load()
        .predict(pd.DataFrame({"image_b64": [_png_b64(image) for image in test["images"]]}))
    )
    assert list(served["predicted_class"]) == [classes[i] for i in expected]
