"""The MLflow pyfunc model that `mlflow models serve` runs: ONNX Runtime, no torch, no Kedro.

Input: a DataFrame with, per row, one of ``image_path`` (absolute, or relative to the server's
working directory, under the allowed roots), ``image_b64`` (base64 text) or ``image_bytes`` (raw
file bytes, e.g. Spark's ``binaryFile`` content). Output per row: ``predicted_class``,
``probability``, ``probabilities``, ``topk`` and ``error`` (``serving.contract``). By default
(param ``on_error="raise"``) a bad row makes the request fail with HTTP 400 naming it; with
``on_error="row"`` every row gets an answer, ``error`` saying why a row has no class.
"""

from __future__ import annotations

import logging

import mlflow.pyfunc
import pandas as pd
from mlflow.environment_variables import _MLFLOW_IS_IN_SERVING_ENVIRONMENT
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from .classifier import OnnxClassifier, RequestError, frame_of, records
from .contract import ON_ERROR


class EuroSatPyfunc(mlflow.pyfunc.PythonModel):
    """Artifacts: ``onnx_model`` (model.onnx) and ``config`` (classes, topk, allowed roots)."""

    def load_context(self, context):
        _show_serving_logs()
        self.classifier = OnnxClassifier.from_config(
            context.artifacts["onnx_model"], context.artifacts["config"]
        )

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        if not isinstance(model_input, pd.DataFrame):
            model_input = pd.DataFrame(model_input)
        on_error = (params or {}).get("on_error", ON_ERROR[0])
        if on_error not in ON_ERROR:
            raise MlflowException(
                f"params.on_error must be one of {', '.join(ON_ERROR)}, got {on_error!r}",
                error_code=INVALID_PARAMETER_VALUE,
            )
        try:
            if on_error == "row":
                answer = self.classifier.answer_each(model_input)
            else:
                answer = self.classifier.answer_all(model_input)
        except RequestError as error:
            raise MlflowException(str(error), error_code=INVALID_PARAMETER_VALUE) from error
        # The scoring server turns a DataFrame into these very records; building the frame to
        # have it taken apart again was half the per-request cost of a single image.
        return records(answer) if _in_scoring_server() else frame_of(answer)


def _in_scoring_server() -> bool:
    """True inside `mlflow models serve` (its app sets this MLflow variable when it starts),
    whose JSON answer is the same for a DataFrame and for its records; everywhere else
    (``mlflow.pyfunc.load_model``, Spark's ``spark_udf``) callers get the DataFrame."""
    return _MLFLOW_IS_IN_SERVING_ENVIRONMENT.get()


def _show_serving_logs() -> None:
    """Let the classifier's log line (where ONNX Runtime runs, how many threads) reach stderr
    where nothing else would: `mlflow models serve` (uvicorn) and Spark's Python workers give
    only their own loggers a handler, and Python drops INFO records that find none."""
    serving = logging.getLogger("eurosat_kedro.serving")
    if logging.getLogger().handlers or serving.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    serving.addHandler(handler)
    serving.setLevel(logging.INFO)
