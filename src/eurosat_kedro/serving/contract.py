"""The serving contract, defined once: what the served model takes and answers, over HTTP
(``mlflow models serve``), in Spark (``mlflow.pyfunc.spark_udf``) and on the command line
(the inference pipeline). No torch, no Kedro.

Input: one row per image, exactly one of ``image_path``, ``image_b64``, ``image_bytes``.
Output per image: ``predicted_class``, ``probability`` (of that class), ``probabilities``
(class -> probability), ``topk`` (the best ``topk`` classes), ``unknown`` (the probability is
below the model's "unknown" threshold, fitted on the validation split: the class is a guess)
and ``error`` (None, or why the row has no class). The inference pipeline and Spark batch
inference write the same columns per file, with ``path`` first and without
``probabilities``, and summarise a run with the same keys (``SUMMARY_KEYS``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from .model_card import DEFAULT_PRECISION

if TYPE_CHECKING:
    from mlflow.models import ModelSignature

INPUT_COLUMNS = ("image_path", "image_b64", "image_bytes")
OUTPUT_COLUMNS = ("predicted_class", "probability", "probabilities", "topk", "unknown", "error")
TABLE_COLUMNS = ("path", "predicted_class", "probability", "topk", "unknown", "error")
SUMMARY_KEYS = ("n_files", "n_predicted", "n_errors", "counts", "errors")
# the pyfunc's ``on_error`` param: fail the whole request on a bad row, or answer it per row
ON_ERROR = ("raise", "row")
DEFAULT_TOPK = 3
# the output columns Spark reads per row, with their Spark types (``probabilities`` is left out)
SPARK_RESULT_FIELDS = {
    "predicted_class": "string",
    "probability": "double",
    "topk": "array<struct<class: string, probability: double>>",
    "unknown": "boolean",
    "error": "string",
}
SPARK_RESULT_TYPE = ", ".join(f"{name} {kind}" for name, kind in SPARK_RESULT_FIELDS.items())
ALLOWED_ROOTS_ENV = "EUROSAT_ALLOWED_ROOTS"
ORT_THREADS_ENV = "EUROSAT_ORT_THREADS"
ORT_PROVIDERS_ENV = "EUROSAT_ORT_PROVIDERS"
MAX_ERRORS_IN_SUMMARY = 100


@dataclass(frozen=True)
class ServingConfig:
    """``config.json`` beside the served ONNX model. ``test_scores``: what the deployment
    measured of this very model on the test split (``accuracy``, ``accuracy_ci_low``, ...:
    ``metrics.HEADLINE_FIGURES``); empty when unknown (folders written before it was kept)."""

    classes: tuple[str, ...]
    topk: int = DEFAULT_TOPK
    allowed_roots: tuple[str, ...] = ("data",)
    precision: str = DEFAULT_PRECISION
    test_scores: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {key: list(v) if isinstance(v, tuple) else v for key, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict) -> ServingConfig:
        return cls(
            classes=tuple(data["classes"]),
            topk=int(data.get("topk", DEFAULT_TOPK)),
            allowed_roots=tuple(data.get("allowed_roots") or ()),
            precision=data.get("precision", DEFAULT_PRECISION),
            test_scores={key: float(v) for key, v in (data.get("test_scores") or {}).items()},
        )


def model_signature() -> ModelSignature:
    """The pyfunc's signature: input columns (one of them set per row), output columns, and
    the ``on_error`` param."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema
    from mlflow.types.schema import Array, Map, Object, Property

    topk_item = Object([Property("class", "string"), Property("probability", "double")])
    return ModelSignature(
        inputs=Schema(
            [
                ColSpec("string", "image_path", required=False),
                ColSpec("string", "image_b64", required=False),
                ColSpec("binary", "image_bytes", required=False),
            ]
        ),
        outputs=Schema(
            [
                ColSpec("string", "predicted_class", required=False),
                ColSpec("double", "probability", required=False),
                ColSpec(Map("double"), "probabilities", required=False),
                ColSpec(Array(topk_item), "topk", required=False),
                ColSpec("boolean", "unknown", required=False),
                ColSpec("string", "error", required=False),
            ]
        ),
        params=ParamSchema([ParamSpec("on_error", "string", ON_ERROR[0])]),
    )


def summary(
    n_files: int, counts: dict[str, int], errors: Iterable[tuple[str, str]], n_errors: int
) -> dict:
    """A run's summary: files, how many got a class, how many an error, the count per class
    and the first ``MAX_ERRORS_IN_SUMMARY`` errors (``path``, ``error``)."""
    return {
        "n_files": int(n_files),
        "n_predicted": int(n_files - n_errors),
        "n_errors": int(n_errors),
        "counts": {name: int(n) for name, n in sorted(counts.items())},
        "errors": [
            {"path": path, "error": error} for path, error in list(errors)[:MAX_ERRORS_IN_SUMMARY]
        ],
    }
