"""The served model: an MLflow pyfunc folder (ONNX model + config), logged to the MLflow run."""

from __future__ import annotations

import json
import shutil
import tempfile
from importlib.metadata import version
from pathlib import Path
from typing import Any

import mlflow
import onnx
from kedro.io import AbstractDataset, DatasetError

import eurosat_kedro

SERVING_REQUIREMENTS = ("mlflow", "onnxruntime", "numpy", "pandas", "pillow")


class PyfuncModelDataset(AbstractDataset[dict, Any]):
    """Save ``{"onnx_model", "config", "signature", "input_example"}`` as an MLflow pyfunc model.

    The folder is what ``mlflow models serve -m`` takes. Its requirements are pinned to the
    installed versions of the serving stack only (no torch, no Kedro). The model is saved as
    code (``serving/pyfunc_entry.py``), not pickled. When an MLflow run is active (kedro-mlflow
    opens one per ``kedro run``), the same model is also logged to it with
    ``mlflow.pyfunc.log_model`` under the name ``artifact_path``: an MLflow logged model, shown
    in the run's and the experiment's model views, that the registry can version. Load returns
    ``mlflow.pyfunc.load_model`` of the folder.
    """

    def __init__(
        self,
        filepath: str,
        artifact_path: str = "mlflow_model",
        metadata: dict[str, Any] | None = None,
    ):
        self._filepath = Path(filepath)
        self._artifact_path = artifact_path
        self.metadata = metadata

    def load(self):
        if not (self._filepath / "MLmodel").is_file():
            raise DatasetError(
                f"{self._filepath} holds no MLflow model: run the deployment pipeline"
            )
        return mlflow.pyfunc.load_model(str(self._filepath))

    def save(self, data: dict) -> None:
        package = Path(eurosat_kedro.__file__).parent
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            onnx.save(data["onnx_model"], str(tmp / "model.onnx"), save_as_external_data=False)
            (tmp / "config.json").write_text(json.dumps(data["config"], indent=2))
            model = {
                "python_model": str(package / "serving" / "pyfunc_entry.py"),
                "artifacts": {
                    "onnx_model": str(tmp / "model.onnx"),
                    "config": str(tmp / "config.json"),
                },
                "code_paths": [str(package)],
                "pip_requirements": [f"{name}=={version(name)}" for name in SERVING_REQUIREMENTS],
                "signature": data.get("signature"),
                "input_example": data.get("input_example"),
            }
            staging = tmp / "mlflow_model"
            mlflow.pyfunc.save_model(path=str(staging), **model)
            if self._filepath.exists():
                shutil.rmtree(self._filepath)
            self._filepath.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(staging), self._filepath)
            if mlflow.active_run():
                mlflow.pyfunc.log_model(name=self._artifact_path, **model)

    def _exists(self) -> bool:
        return (self._filepath / "MLmodel").is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "artifact_path": self._artifact_path}
