"""The served ONNX model and its classes, from any MLflow model URI, folder or ONNX file."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from eurosat_kedro.serving.contract import ServingConfig
from eurosat_kedro.serving.model_card import ModelCard


@dataclass(frozen=True)
class ServedModel:
    """What inference, mapping and batch inference need of a served model.

    ``model_uri`` is the URI as given; ``mlflow_uri`` is what MLflow (and Spark workers)
    load it by: an absolute folder path or the URI, None for a bare ``.onnx`` file.
    ``params`` names the pyfunc signature's params (``on_error`` for this project's models).
    """

    onnx_model: bytes
    classes: tuple[str, ...]
    precision: str
    model_uri: str
    mlflow_uri: str | None = None
    params: tuple[str, ...] = ()


class ServedModelDataset(AbstractDataset[Any, ServedModel]):
    """Load a ``ServedModel`` from ``model_uri``:

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

    def load(self) -> ServedModel:
        local = Path(self._uri).expanduser()
        if local.is_file() and local.suffix == ".onnx":
            return self._from_onnx_file(local)
        if (local / "MLmodel").is_file():
            return self._from_folder(local, str(local.resolve()))
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
            return self._from_folder(Path(folder), self._uri)

    def _from_onnx_file(self, path: Path) -> ServedModel:
        import onnx

        try:
            card = ModelCard.of(onnx.load(str(path), load_external_data=False), str(path))
        except ValueError as error:
            raise DatasetError(str(error)) from error
        return ServedModel(path.read_bytes(), card.classes, card.precision, self._uri)

    def _from_folder(self, folder: Path, mlflow_uri: str) -> ServedModel:
        from mlflow.models import Model

        onnx_path, config_path = (
            folder / "artifacts" / name for name in ("model.onnx", "config.json")
        )
        if not (onnx_path.is_file() and config_path.is_file()):
            raise DatasetError(
                f"{self._uri} is an MLflow model but not this project's served "
                "model (no artifacts/model.onnx and config.json)"
            )
        config = ServingConfig.from_json(json.loads(config_path.read_text()))
        signature = Model.load(str(folder)).signature
        params = signature.params.params if signature and signature.params else []
        return ServedModel(
            onnx_model=onnx_path.read_bytes(),
            classes=config.classes,
            precision=config.precision,
            model_uri=self._uri,
            mlflow_uri=mlflow_uri,
            params=tuple(param.name for param in params),
        )

    def save(self, data: Any) -> None:
        raise DatasetError(f"{self._uri} is read-only here: the deployment pipeline writes models")

    def _describe(self) -> dict[str, Any]:
        return {"model_uri": self._uri}
