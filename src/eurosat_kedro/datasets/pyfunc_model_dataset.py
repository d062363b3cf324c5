"""The served model as an MLflow pyfunc folder: what ``mlflow models serve -m`` takes."""

from __future__ import annotations

from pathlib import Path

import mlflow

from eurosat_kedro.files import atomic_path
from eurosat_kedro.serving.package import PyfuncPackage

from .file_dataset import FileDataset


class PyfuncModelDataset(FileDataset[PyfuncPackage, "mlflow.pyfunc.PyFuncModel"]):
    """Save a ``PyfuncPackage`` as an MLflow pyfunc folder (written beside the target, then
    moved into place); load it with ``mlflow.pyfunc.load_model``. Only reads and writes the
    folder: logging the model to MLflow is the deployment pipeline's ``log_mlflow_model``
    node."""

    def load(self) -> mlflow.pyfunc.PyFuncModel:
        return mlflow.pyfunc.load_model(str(self._require("run the deployment pipeline")))

    def save(self, data: PyfuncPackage) -> None:
        with atomic_path(self._get_save_path()) as tmp:
            data.save(tmp)

    @staticmethod
    def _is_complete(path: str | Path) -> bool:
        return (Path(path) / "MLmodel").is_file()
