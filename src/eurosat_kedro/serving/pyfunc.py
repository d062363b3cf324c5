"""The MLflow pyfunc model that `mlflow models serve` runs: ONNX Runtime, no torch, no Kedro.

Input: a DataFrame with ``image_path`` (absolute, or relative to the server's working
directory, under the allowed roots) or ``image_b64``. Output per row: ``predicted_class``,
``probabilities`` and ``topk``. A bad row makes the request fail with HTTP 400 naming it.
"""

from __future__ import annotations

import mlflow.pyfunc
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from .classifier import OnnxClassifier, RequestError


class EuroSatPyfunc(mlflow.pyfunc.PythonModel):
    """Artifacts: ``onnx_model`` (model.onnx) and ``config`` (classes, topk, allowed roots)."""

    def load_context(self, context):
        self.classifier = OnnxClassifier.from_config(
            context.artifacts["onnx_model"], context.artifacts["config"]
        )

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        if not isinstance(model_input, pd.DataFrame):
            model_input = pd.DataFrame(model_input)
        try:
            return self.classifier.predict_frame(model_input)
        except RequestError as error:
            raise MlflowException(str(error), error_code=INVALID_PARAMETER_VALUE) from error
