"""The served ONNX model and its classes, from any MLflow model URI, folder or ONNX file."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from eurosat_kedro.serving.classifier import onnx_metadata


class ServedModelDataset(AbstractDataset[Any, dict]):
    """Load ``{"onnx_model": bytes, "classes", "precision", "model_uri"}`` from ``model_uri``:

    - an MLflow model URI of any store: ``models:/eurosat-landuse@champion``,
      ``models:/eurosat-landuse/3``, ``runs:/<run_id>/mlflow_model``, ``models:/<model_id>``;
    - a local MLflow model folder (what the deployment pipeline writes);
    - an ``.onnx`` file (class names from its metadata), e.g. ``model_int8.onnx``.

    Read-only. A missing model, version or alias is an error naming the URI and
    ``parameter``, the run parameter that chooses it.
    """

    def __init__(
        self,
        model_uri: str,
        parameter: str = "inference.model_uri",
        metadata: dict[str, Any] | None = None,
    ):
        self._parameter = parameter
        if not model_uri:
            raise DatasetError(
                f"{parameter} is empty: give an MLflow model URI, a model folder or an .onnx file"
            )
        self._uri = str(model_uri)
        self.metadata = metadata

    def load(self) -> dict:
        local = Path(self._uri).expanduser()
        if local.is_file() and local.suffix == ".onnx":
            model = local.read_bytes()
            metadata = onnx_metadata(model)
            classes = metadata.get("classes", "")
            if not classes:
                raise DatasetError(
                    f"{local} has no class names in its metadata: export it with "
                    "the deployment pipeline"
                )
            return {
                "onnx_model": model,
                "classes": classes.split(","),
                "precision": metadata.get("precision", "fp32"),
                "model_uri": self._uri,
            }
        if (local / "MLmodel").is_file():
            return self._from_folder(local)
        if "://" not in self._uri and ":/" not in self._uri:
            raise DatasetError(
                f"{self._parameter} {self._uri!r} is neither an existing MLflow model folder, "
                "an .onnx file nor an MLflow URI (models:/<name>@<alias>, runs:/<run>/<path>). "
                "Run the deployment pipeline, or check the path."
            )
        import mlflow
        from mlflow.exceptions import MlflowException

        with tempfile.TemporaryDirectory() as tmp:
            try:
                folder = mlflow.artifacts.download_artifacts(artifact_uri=self._uri, dst_path=tmp)
            except MlflowException as error:
                raise DatasetError(
                    f"{self._parameter} {self._uri!r} cannot be loaded from the MLflow store "
                    f"{mlflow.get_tracking_uri()}: {error.message} Check the registered model "
                    "name, version or alias (the MLflow UI's Models page lists them)."
                ) from error
            return self._from_folder(Path(folder))

    def _from_folder(self, folder: Path) -> dict:
        onnx_path, config_path = (
            folder / "artifacts" / name for name in ("model.onnx", "config.json")
        )
        if not (onnx_path.is_file() and config_path.is_file()):
            raise DatasetError(
                f"{self._uri} is an MLflow model but not this project's served "
                "model (no artifacts/model.onnx and config.json)"
            )
        config = json.loads(config_path.read_text())
        return {
            "onnx_model": onnx_path.read_bytes(),
            "classes": config["classes"],
            "precision": config.get("precision", "fp32"),
            "model_uri": self._uri,
        }

    def save(self, data: Any) -> None:
        raise DatasetError(f"{self._uri} is read-only here: the deployment pipeline writes models")

    def _describe(self) -> dict[str, Any]:
        return {"model_uri": self._uri}
