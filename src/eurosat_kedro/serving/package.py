"""The served model as an MLflow pyfunc: the ONNX model, its serving config, the signature
and an input example; saved as a folder (what ``mlflow models serve -m`` takes) or logged to
an MLflow run (what the Model Registry versions)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import mlflow
import pandas as pd

import eurosat_kedro

from .contract import ServingConfig, model_signature

# what the served folder needs: no torch, no Kedro
SERVING_REQUIREMENTS = ("mlflow", "onnxruntime", "numpy", "pandas", "pillow")
ARTIFACT_NAME = "mlflow_model"  # the logged model's name in the MLflow run


@dataclass(frozen=True)
class PyfuncPackage:
    """Everything the pyfunc folder holds. ``onnx_model`` is an ``onnx.ModelProto``."""

    onnx_model: object
    config: ServingConfig
    input_example: pd.DataFrame | None = None

    @contextmanager
    def _model_arguments(self) -> Iterator[dict]:
        """The arguments ``mlflow.pyfunc.save_model`` and ``log_model`` share, with the
        artifacts written to a temporary folder that lives as long as the block."""
        import onnx

        package = Path(eurosat_kedro.__file__).parent
        with tempfile.TemporaryDirectory() as tmp:
            onnx_path, config_path = Path(tmp) / "model.onnx", Path(tmp) / "config.json"
            onnx.save(self.onnx_model, str(onnx_path), save_as_external_data=False)
            config_path.write_text(json.dumps(self.config.to_json(), indent=2))
            yield {
                # saved as code (MLflow "models from code"), not pickled
                "python_model": str(package / "serving" / "pyfunc_entry.py"),
                "artifacts": {"onnx_model": str(onnx_path), "config": str(config_path)},
                "code_paths": [str(package)],
                "pip_requirements": [f"{name}=={version(name)}" for name in SERVING_REQUIREMENTS],
                "signature": model_signature(),
                "input_example": self.input_example,
            }

    def save(self, folder: str | Path) -> None:
        """Write the pyfunc folder at ``folder`` (which must not exist)."""
        with self._model_arguments() as arguments:
            mlflow.pyfunc.save_model(path=str(folder), **arguments)

    def log(self, name: str = ARTIFACT_NAME) -> mlflow.models.model.ModelInfo:
        """Log the model to the active MLflow run as a logged model called ``name``."""
        with self._model_arguments() as arguments:
            return mlflow.pyfunc.log_model(name=name, **arguments)
