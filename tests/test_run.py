"""`kedro run --env sample`: every pipeline end to end, recorded in a temporary MLflow store."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow


def test_sample_run_of_all_pipelines_is_tracked_in_mlflow(trained_project: Path):
    project = trained_project
    reporting = project / "data" / "sample" / "08_reporting"
    metrics = json.loads((reporting / "metrics.json").read_text())
    assert {"accuracy", "macro_f1", "per_class", "confusion_matrix", "classes"} <= set(metrics)
    assert metrics["n_images"] == 40  # the test split, not the training split
    for name in ("loss_curves", "val_acc", "confusion_matrix", "misclassified"):
        assert (reporting / f"{name}.png").is_file()

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("eurosat-sample")
    (run,) = client.search_runs([experiment.experiment_id], "tags.mlflow.runName = '__default__'")
    assert run.data.params["training.epochs"] == "6"
    assert run.data.params["model.name"] == "simple_cnn"
    history = client.get_metric_history(run.info.run_id, "training.val_accuracy")
    assert [m.step for m in history] == [1, 2, 3, 4, 5, 6]
    assert run.data.metrics["test.accuracy"] == metrics["accuracy"]
    int8 = json.loads((reporting / "int8_report.json").read_text())
    assert run.data.metrics["onnx.fp32_accuracy"] == metrics["accuracy"]  # ONNX = evaluation
    assert run.data.metrics["onnx.int8_accuracy"] == int8["int8_accuracy"]
    plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert plots == {
        f"plots/{n}.png"
        for n in (
            "loss_curves",
            "val_acc",
            "confusion_matrix",
            "misclassified",
            "reliability",
            "coverage",
        )
    }
    assert {a.path for a in client.list_artifacts(run.info.run_id, "model")} == {"model/model.pt"}
    # the served model is a logged MLflow model of this run, registered as the first champion
    (logged,) = [
        model
        for model in client.search_logged_models([experiment.experiment_id])
        if model.source_run_id == run.info.run_id
    ]
    assert logged.name == "mlflow_model" and logged.source_run_id == run.info.run_id
    linked = {m.key: m.value for m in logged.metrics}  # the model view shows its test metrics
    assert linked["test.accuracy"] == linked["served.test_accuracy"] == metrics["accuracy"]
    champion = client.get_model_version_by_alias("eurosat-landuse-sample", "champion")
    assert str(champion.version) == "1" and champion.run_id == run.info.run_id
    assert champion.tags["test_accuracy"] == f"{metrics['accuracy']:.6f}"
    assert champion.tags["model_name"] == "simple_cnn" and champion.tags["precision"] == "fp32"
    assert champion.description.startswith("Model `simple_cnn`, fp32 weights")
    assert "300-image sample" in client.get_registered_model("eurosat-landuse-sample").description
    assert len(champion.tags["data_fingerprint"]) == 64 and champion.tags["git_commit"]
    registry = json.loads((reporting / "registry.json").read_text())
    assert registry["alias"] == "champion" and registry["reason"].startswith("first version")
