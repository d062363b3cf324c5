"""The evaluation pipeline on an in-memory catalog with SequentialRunner."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner
from matplotlib.figure import Figure

from eurosat_kedro.models import (
    ModelSpec,
    TrainedModel,
    build_model,
    load_trained_model,
    predict_logits,
)
from eurosat_kedro.models.predict import normalize
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
    catalog["teacher_model"] = None  # training.distill.teacher null: no teacher
    catalog["val_arrays"] = {**tiny_arrays(3, seed=4), "paths": np.array(["v"] * 30)}
    catalog["params:evaluation.calibration"] = {"temperature_scaling": True, "target_coverage": 0.9}
    catalog["classes"] = CLASSES
    catalog["training_history"] = [
        {"epoch": 1, "train_loss": 2.0, "val_loss": 2.1, "val_accuracy": 0.2}
    ]
    catalog["params:evaluation.batch_size"] = 8
    catalog["params:evaluation.tta"] = False
    catalog["params:evaluation.misclassified_grid_size"] = 6
    catalog["params:evaluation.robustness"] = {"perturbations": {"gain": [1.2], "jpeg": [50]}}
    catalog["data_report"] = {"source": {"url": "https://example.org/EuroSAT_RGB.zip"}}
    return catalog


def test_evaluation_scores_the_test_split():
    scoring = create_pipeline().only_nodes(
        "predict_split_logits",
        "fit_calibration",
        "predict_test_split",
        "compute_metrics",
    )
    outputs = SequentialRunner().run(scoring, _catalog())
    metrics = outputs["metrics"].load()
    matrix = np.array(metrics["confusion_matrix"])
    assert metrics["n_images"] == 20 == matrix.sum()
    assert metrics["accuracy"] == np.trace(matrix) / 20
    assert matrix.sum(axis=1).tolist() == [2] * 10  # every true class counted once per image
    assert outputs["test_metrics"].load()["accuracy"]["value"] == metrics["accuracy"]


def test_evaluation_draws_every_plot():
    outputs = SequentialRunner().run(create_pipeline(), _catalog())
    plots = (
        "loss_curves",
        "val_acc",
        "confusion_matrix",
        "misclassified",
        "reliability",
        "coverage",
    )
    for plot in plots:
        assert isinstance(outputs[f"{plot}_plot"].load(), Figure), plot


def test_the_temperature_is_fitted_on_validation_and_applied_to_the_test_probabilities():
    fitting = create_pipeline().only_nodes("predict_split_logits", "fit_calibration")
    fit = SequentialRunner().run(fitting, _catalog())["calibration"].load()
    outputs = SequentialRunner().run(create_pipeline(), _catalog())
    assert fit["fitted_on"] == "validation" and fit["n_images"] == 30 and fit["tta"] is False
    # the fit lowers the validation NLL it minimises, and never changes a predicted class
    assert fit["figures"]["nll_after"] <= fit["figures"]["nll_before"]
    report = outputs["calibration_report"].load()
    assert report["temperature"] == fit["temperature"]
    assert report["before"]["accuracy"] == report["after"]["accuracy"]
    assert 0 < fit["unknown_threshold"] < 1
    assert report["unknown"]["threshold"] == fit["unknown_threshold"]
    logged = outputs["calibration_metrics"].load()
    assert logged["temperature"]["value"] == fit["temperature"]


def _quadrant_images(n: int, seed: int) -> dict:
    """Dark noise with one bright quadrant, the label: what a turn of the image changes."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 4
    images = rng.integers(0, 40, (n, 64, 64, 3)).astype(np.uint8)
    for image, quadrant in zip(images, labels, strict=True):
        row, column = divmod(int(quadrant), 2)
        image[32 * row : 32 * row + 32, 32 * column : 32 * column + 32] += 200
    return {"images": images, "labels": labels, "paths": np.array([f"q/{i}" for i in range(n)])}


def _quadrant_teacher() -> TrainedModel:
    """A model that tells the quadrants apart in one pass, which its 8 flips/turns undo."""
    torch.manual_seed(0)
    spec = ModelSpec("simple_cnn", width=8)
    model, train = build_model(spec), _quadrant_images(24, seed=0)
    images, labels = torch.from_numpy(normalize(train["images"])), torch.from_numpy(train["labels"])
    optimizer = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(15):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(images), labels).backward()
        optimizer.step()
    return TrainedModel(model.state_dict(), spec, tuple(CLASSES))


def test_a_student_is_compared_with_its_teacher_with_and_without_tta():
    """The student here has its teacher's very weights, so it agrees with the teacher in one
    pass on every image; the teacher with TTA is right on other images than in one pass, so
    each figure can only come from its own model."""
    catalog, teacher, test = _catalog(), _quadrant_teacher(), _quadrant_images(20, seed=1)
    catalog["trained_model"], catalog["teacher_model"], catalog["test_arrays"] = (
        teacher,
        teacher,
        test,
    )
    with_tta = predict_logits(load_trained_model(teacher, tta=True), test["images"], 8).argmax(1)
    one_pass = predict_logits(load_trained_model(teacher), test["images"], 8).argmax(1)
    tta_right, one_pass_right = with_tta == test["labels"], one_pass == test["labels"]
    assert tta_right.mean() != one_pass_right.mean(), "the fixture must tell them apart"
    comparing = create_pipeline().only_nodes("predict_split_logits", "compare_with_teacher")
    outputs = SequentialRunner().run(comparing, catalog)
    report = outputs["teacher_comparison"].load()
    metrics = outputs["teacher_comparison_metrics"].load()

    assert report["n_images"] == 20 and report["teacher"]["model"] == "simple_cnn"
    assert report["models"]["teacher_tta"]["accuracy"] == tta_right.mean()
    assert report["models"]["teacher_one_pass"]["accuracy"] == one_pass_right.mean()
    assert report["models"]["student"]["tta"] is False
    assert report["pairs"]["teacher_one_pass vs student"] == {"n01": 0, "n10": 0, "p_value": 1.0}
    versus = report["pairs"]["teacher_tta vs student"]
    assert versus["n01"] == int((tta_right & ~one_pass_right).sum())
    assert versus["n10"] == int((one_pass_right & ~tta_right).sum())
    assert metrics["test_accuracy"]["value"] == tta_right.mean()
    assert metrics["one_pass_test_accuracy"]["value"] == one_pass_right.mean()
    assert metrics["student_n10"]["value"] == versus["n10"]
    assert metrics["student_p_value"]["value"] == versus["p_value"]


def test_without_a_teacher_there_is_nothing_to_compare():
    comparing = create_pipeline().only_nodes("predict_split_logits", "compare_with_teacher")
    outputs = SequentialRunner().run(comparing, _catalog())
    assert outputs["teacher_comparison"].load() == {"teacher": None}
    assert outputs["teacher_comparison_metrics"].load() == {}


def test_an_active_mlflow_run_lists_the_test_split_it_was_scored_on(mlflow_experiment: str):
    catalog = _catalog()
    with mlflow.start_run(experiment_id=mlflow_experiment) as run:
        SequentialRunner().run(create_pipeline().only_nodes("log_test_data"), catalog)
    (test,) = mlflow.MlflowClient().get_run(run.info.run_id).inputs.dataset_inputs
    assert {t.key: t.value for t in test.tags}["mlflow.data.context"] == "test"
    assert test.dataset.digest == split_fingerprint(catalog.load("test_arrays"))[:36]


@pytest.mark.parametrize("tta", [False, True])
def test_robustness_scores_each_shift_with_the_model_evaluation_scored(tta: bool):
    catalog = _catalog()
    catalog["params:evaluation.tta"] = tta
    scoring = create_pipeline().only_nodes(
        "predict_split_logits",
        "fit_calibration",
        "predict_test_split",
        "compute_metrics",
        "evaluate_robustness",
    )
    outputs = SequentialRunner().run(scoring, catalog)
    report, metrics = outputs["robustness_report"].load(), outputs["metrics"].load()
    assert report["tta"] is tta and report["n_images"] == 20
    clean, brighter, compressed = report["rows"]
    assert clean["name"] == "clean" and clean["accuracy"] == metrics["accuracy"]
    assert [brighter["name"], compressed["name"]] == ["gain_1.2", "jpeg_50"]
    assert compressed["drop"] == clean["accuracy"] - compressed["accuracy"]
    table = outputs["robustness_table"].load()
    assert table["name"].tolist() == ["clean", "gain_1.2", "jpeg_50"]
    logged = outputs["robustness_metrics"].load()
    assert set(logged) == {"clean.accuracy", "gain_1.2.accuracy", "jpeg_50.accuracy"}
    assert logged["jpeg_50.accuracy"]["value"] == compressed["accuracy"]


def test_robustness_off_reports_no_rows():
    catalog = _catalog()
    catalog["params:evaluation.robustness"] = {"enabled": False, "perturbations": {"gain": [2]}}
    outputs = SequentialRunner().run(create_pipeline().only_nodes("evaluate_robustness"), catalog)
    assert outputs["robustness_report"].load()["rows"] == []
    assert outputs["robustness_table"].load().empty
    assert outputs["robustness_metrics"].load() == {}


def test_the_sample_run_reports_accuracy_under_each_shift(trained_project: Path):
    reporting = trained_project / "data" / "sample" / "08_reporting"
    metrics = json.loads((reporting / "metrics.json").read_text())
    report = json.loads((reporting / "robustness_report.json").read_text())
    names = [row["name"] for row in report["rows"]]
    assert names == [
        "clean",
        *("gain_0.8", "gain_1.2", "offset_-20", "offset_20", "gamma_0.8", "gamma_1.25"),
        *("haze_0.2", "haze_0.4", "jpeg_75", "jpeg_50"),
    ]
    clean = report["rows"][0]
    assert report["n_images"] == 40 and clean["accuracy"] == metrics["accuracy"]
    for row in report["rows"]:
        assert row["ci_low"] <= row["accuracy"] <= row["ci_high"], row["name"]
        assert row["drop"] == pytest.approx(clean["accuracy"] - row["accuracy"])
    table = (reporting / "robustness_report.csv").read_text().splitlines()
    assert table[0].split(",")[:4] == ["name", "kind", "value", "accuracy"]
    assert [line.split(",")[0] for line in table[1:]] == names
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{trained_project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("eurosat-sample")
    (run,) = client.search_runs([experiment.experiment_id], "tags.mlflow.runName = '__default__'")
    logged = {name: run.data.metrics[f"robustness.{name}.accuracy"] for name in names}
    assert logged == {row["name"]: row["accuracy"] for row in report["rows"]}
    reports = {a.path for a in client.list_artifacts(run.info.run_id, "reports")}
    assert "reports/robustness_report.json" in reports
