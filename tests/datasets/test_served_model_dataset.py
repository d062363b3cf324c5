"""ServedModelDataset: the served ONNX model and classes from an .onnx file, a model folder or
an MLflow URI; read-only; clear errors."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from kedro.io import DatasetError

from eurosat_kedro.datasets import ServedModelDataset
from tests.conftest import tiny_onnx


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
