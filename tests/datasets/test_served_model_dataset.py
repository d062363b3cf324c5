"""ServedModelDataset: the served ONNX model and classes from an .onnx file, a model folder or
an MLflow URI, with where it comes from and how it scored; read-only; clear errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import mlflow
import onnx
import pytest
from kedro.io import DatasetError

from eurosat_kedro.datasets import ServedModelDataset
from eurosat_kedro.datasets.served_model_dataset import (
    ModelProvenance,
    registry_version_reference,
)
from eurosat_kedro.serving.contract import ServingConfig
from eurosat_kedro.serving.package import PyfuncPackage
from tests.conftest import tiny_onnx

SAMPLE_MODEL = "eurosat-landuse-sample"  # what `kedro run --env sample` registers


def _onnx_file(folder: Path, props: dict[str, str]) -> Path:
    path = folder / "model.onnx"
    onnx.save(tiny_onnx(props), str(path))
    return path


def test_an_onnx_file_gives_its_classes_and_precision(tmp_path: Path):
    path = _onnx_file(tmp_path, {"classes": "Forest,River", "precision": "int8"})
    loaded = ServedModelDataset(str(path)).load()
    assert loaded.classes == ("Forest", "River") and loaded.precision == "int8"
    assert loaded.onnx_model == path.read_bytes() and loaded.model_uri == str(path)
    assert loaded.mlflow_uri is None  # not an MLflow model: Spark cannot score it
    assert loaded.provenance == ModelProvenance()  # its card records no version nor score


def test_an_onnx_file_without_classes_says_how_to_get_one(tmp_path: Path):
    path = _onnx_file(tmp_path, {})
    with pytest.raises(DatasetError, match="no class names in its metadata"):
        ServedModelDataset(str(path)).load()


def test_the_deployed_model_folder(trained_project: Path):
    folder = trained_project / "data" / "sample" / "06_models" / "mlflow_model"
    loaded = ServedModelDataset(str(folder)).load()
    assert len(loaded.classes) == 10 and loaded.precision == "fp32"
    assert loaded.onnx_model == (folder / "artifacts" / "model.onnx").read_bytes()
    assert loaded.mlflow_uri == str(folder.resolve()) and "on_error" in loaded.params
    # the test accuracy the deployment measured of it (fp32: evaluation's), no registry
    metrics = json.loads((trained_project / "data/sample/08_reporting/metrics.json").read_text())
    assert loaded.provenance == ModelProvenance(
        test_accuracy=metrics["accuracy"],
        test_accuracy_ci=(metrics["accuracy_ci_low"], metrics["accuracy_ci_high"]),
    )


def test_a_folder_written_before_scores_were_kept_has_no_provenance(tmp_path: Path):
    card = {"classes": "A,B"}
    PyfuncPackage(tiny_onnx(card), ServingConfig(("A", "B"))).save(tmp_path / "old")
    config = tmp_path / "old" / "artifacts" / "config.json"
    config.write_text(json.dumps({"classes": ["A", "B"], "topk": 2}))  # as older ones read
    assert ServedModelDataset(str(tmp_path / "old")).load().provenance == ModelProvenance()


@pytest.fixture
def sample_registry(
    trained_project: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[mlflow.MlflowClient]:
    """The sample run's MLflow store (only read), as the tracking URI of this test."""
    previous = mlflow.get_tracking_uri()
    uri = f"sqlite:///{trained_project / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)  # mlflow.set_tracking_uri copies it there
    mlflow.set_tracking_uri(uri)
    yield mlflow.MlflowClient()
    mlflow.set_tracking_uri(previous)


@pytest.mark.parametrize("reference", ["@champion", "/1"])
def test_a_registered_version_gives_its_number_run_and_tagged_test_accuracy(
    sample_registry: mlflow.MlflowClient, reference: str
):
    expected = (
        sample_registry.get_model_version_by_alias(SAMPLE_MODEL, "champion")
        if reference == "@champion"
        else sample_registry.get_model_version(SAMPLE_MODEL, "1")
    )
    loaded = ServedModelDataset(f"models:/{SAMPLE_MODEL}{reference}").load()
    tags = expected.tags
    assert loaded.provenance == ModelProvenance(
        registered_model=SAMPLE_MODEL,
        version=str(expected.version),  # the alias resolved to its number
        run_id=expected.run_id,
        test_accuracy=float(tags["test_accuracy"]),
        test_accuracy_ci=(
            float(tags["test_accuracy_ci_low"]),
            float(tags["test_accuracy_ci_high"]),
        ),
    )
    assert loaded.model_uri == f"models:/{SAMPLE_MODEL}{reference}"  # as the user gave it
    # what Spark workers load: the version resolved once, whatever the alias does meanwhile
    assert loaded.mlflow_uri == f"models:/{SAMPLE_MODEL}/{expected.version}"
    assert 0 < loaded.provenance.test_accuracy_ci[0] <= loaded.provenance.test_accuracy


def test_a_run_uri_gives_its_run_and_the_scores_its_config_records(
    sample_registry: mlflow.MlflowClient,
):
    version = sample_registry.get_model_version_by_alias(SAMPLE_MODEL, "champion")
    loaded = ServedModelDataset(f"runs:/{version.run_id}/mlflow_model").load()
    provenance = loaded.provenance
    assert provenance.run_id == version.run_id and provenance.version is None
    assert provenance.test_accuracy == pytest.approx(float(version.tags["test_accuracy"]), abs=1e-6)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("models:/eurosat-landuse@champion", ("eurosat-landuse", "@champion")),
        ("models:/eurosat-landuse/3", ("eurosat-landuse", "3")),
        ("models:/eurosat-landuse/Production", None),  # a stage: no one version to name
        ("models:/eurosat-landuse/latest", None),
        ("models:/m-0123456789abcdef", None),  # a logged model, not a registered version
        ("models://profile@databricks/eurosat-landuse/3", None),  # another registry
        ("runs:/abc/mlflow_model", None),
        ("data/06_models/mlflow_model", None),
    ],
)
def test_registry_version_references_are_read_from_the_uri(uri: str, expected):
    assert registry_version_reference(uri) == expected


def test_provenance_takes_the_accuracy_and_its_interval_only_when_both_bounds_are_known():
    scores = {"accuracy": 0.9, "accuracy_ci_low": 0.85, "macro_f1": 0.8}
    assert ModelProvenance.scored(scores, run_id="r") == ModelProvenance(
        run_id="r", test_accuracy=0.9
    )
    assert ModelProvenance.scored({}) == ModelProvenance()


def test_another_mlflow_model_folder_is_refused(tmp_path: Path):
    (tmp_path / "MLmodel").write_text("flavors: {}\n")
    with pytest.raises(DatasetError, match="not this project's served model"):
        ServedModelDataset(str(tmp_path)).load()


@pytest.mark.parametrize("uri", ["", "no/such/folder"])
def test_nothing_at_the_uri_is_named(uri: str):
    with pytest.raises(DatasetError, match="inference.model_uri"):
        ServedModelDataset(uri).load()


def test_it_is_read_only_and_describes_its_uri(tmp_path: Path):
    dataset = ServedModelDataset("models:/eurosat-landuse@champion")
    assert "models:/eurosat-landuse@champion" in str(dataset)
    with pytest.raises(DatasetError, match="read-only"):
        dataset.save({})
