"""The exported classifier: ONNX Runtime on shared preprocessing; no torch, no Kedro."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd

from eurosat_kedro.preprocessing import IMAGE_SIZE, normalize

from .contract import (
    ALLOWED_ROOTS_ENV,
    DEFAULT_TOPK,
    INPUT_COLUMNS,
    OUTPUT_COLUMNS,
    ServingConfig,
)
from .images import ImageInputError, read_b64, read_bytes, read_path
from .model_card import ModelCard
from .predict import describe, softmax
from .providers import choose_providers, serving_threads

logger = logging.getLogger(__name__)


class RequestError(ValueError):
    """Some rows of a request are unusable; the message names each row and its problem."""


class OnnxClassifier:
    """Predict EuroSAT classes for images given by path, base64 text or raw bytes, through ONNX
    Runtime. ``providers`` (default: ``choose_providers()``, the GPU when the installed build
    has one, else the CPU, or ``$EUROSAT_ORT_PROVIDERS``) are what is asked for; the attribute
    ``providers`` holds what ONNX Runtime uses. ``threads`` 0 is ONNX Runtime's default (one
    per physical core); ``spinning`` False stops its idle threads from busy-waiting between
    runs, which a server sharing its cores with HTTP work and other workers wants."""

    def __init__(
        self,
        onnx_model: str | Path | bytes,
        classes: list[str],
        topk: int = DEFAULT_TOPK,
        allowed_roots: list[str] | None = None,
        threads: int = 0,
        providers: Sequence[str] | None = None,
        spinning: bool = True,
    ):
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        if not spinning:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        requested = choose_providers() if providers is None else list(providers)
        source = onnx_model if isinstance(onnx_model, bytes) else str(onnx_model)
        self.session = ort.InferenceSession(source, options, providers=requested)
        self.providers = self.session.get_providers()
        self.threads = threads
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [self.session.get_outputs()[0].name]
        self.classes = list(classes)
        self.topk = topk
        # below this top-class probability an answer is flagged unknown (the model's card)
        self.unknown_threshold = ModelCard.from_props(
            {"classes": ",".join(self.classes), **self.session.get_modelmeta().custom_metadata_map}
        ).unknown_threshold
        self.allowed_roots = (
            None
            if allowed_roots is None
            else [Path(r).expanduser().resolve() for r in allowed_roots]
        )
        _log_providers(requested, self.providers, threads)

    @classmethod
    def from_config(cls, onnx_path: str | Path, config_path: str | Path) -> OnnxClassifier:
        """Build the served classifier from the ``ServingConfig`` saved beside the model.
        ``EUROSAT_ALLOWED_ROOTS`` (os.pathsep-separated) overrides the allowed roots;
        ONNX Runtime gets the cores shared out among the server's workers
        (``providers.serving_threads``; ``EUROSAT_ORT_THREADS`` overrides, Spark sets 1 per
        task) and the providers of ``providers.choose_providers``."""
        config = ServingConfig.from_json(json.loads(Path(config_path).read_text()))
        roots = list(config.allowed_roots)
        if os.environ.get(ALLOWED_ROOTS_ENV):
            roots = os.environ[ALLOWED_ROOTS_ENV].split(os.pathsep)
        return cls(
            onnx_path,
            list(config.classes),
            config.topk,
            roots,
            threads=serving_threads(),
            spinning=False,
        )

    def logits(self, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Logits for uint8 ``(N, 64, 64, 3)`` images."""
        run, feed = self.session.run, self.input_name
        out = [
            run(self.output_names, {feed: normalize(images[i : i + batch_size])})[0]
            for i in range(0, len(images), batch_size)
        ]
        if len(out) == 1:
            return out[0]
        return np.concatenate(out) if out else np.zeros((0, len(self.classes)), np.float32)

    def read_rows(self, frame: pd.DataFrame) -> tuple[np.ndarray, dict[int, str]]:
        """Decode every row (exactly one of ``image_path``, ``image_b64``, ``image_bytes`` set);
        returns the good images and ``{row: problem}`` for bad ones."""
        columns = [c for c in INPUT_COLUMNS if c in frame.columns]
        if not columns:
            raise RequestError(
                f"expected a column 'image_path', 'image_b64' or 'image_bytes', "
                f"got {list(frame.columns)}"
            )
        # plain Python values, one array per column: no pandas work per row
        values = [frame[name].to_numpy(dtype=object) for name in columns]
        images = np.empty((len(frame), IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8)
        n_good, errors = 0, {}
        for row, record in enumerate(zip(*values, strict=True)):
            try:
                images[n_good] = self._read(columns, record)
                n_good += 1
            except ImageInputError as error:
                errors[row] = str(error)
        return images[:n_good], errors

    def _read(self, columns: list[str], record: tuple) -> np.ndarray:
        """One row's image, from the one input column that is set."""
        given = [name for name, value in zip(columns, record, strict=True) if _is_set(value)]
        if len(given) > 1:
            raise ImageInputError(f"both {' and '.join(given)} are set; send one")
        if given:
            name, value = given[0], record[columns.index(given[0])]
            if name == "image_path":
                return read_path(value, self.allowed_roots)
            return read_b64(value) if name == "image_b64" else read_bytes(value)
        if any(isinstance(value, bytes) for value in record):
            raise ImageInputError("image_bytes is empty (a 0-byte file)")
        raise ImageInputError(f"none of {', '.join(columns)} is set")

    def _answers(self, images: np.ndarray) -> dict[str, list]:
        """The ``OUTPUT_COLUMNS`` for good images, as lists, with ``error`` None."""
        columns = describe(softmax(self.logits(images)), self.classes, self.topk)
        columns["unknown"] = [p < self.unknown_threshold for p in columns["probability"]]
        columns["error"] = [None] * len(images)
        return columns

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """All rows or none: any bad row raises RequestError naming every bad row."""
        return frame_of(self.answer_all(frame))

    def predict_rows(self, frame: pd.DataFrame) -> pd.DataFrame:
        """One output row per input row, whatever its problem: the prediction and
        ``error=None``, or ``error`` with no class (``probability`` NaN, empty ``topk`` and
        ``probabilities``), so a batch job never loses or fails on a row."""
        return frame_of(self.answer_each(frame))

    def answer_all(self, frame: pd.DataFrame) -> dict[str, list]:
        """``predict_frame``'s answer as ``OUTPUT_COLUMNS`` lists of plain Python values."""
        images, errors = self.read_rows(frame)
        if errors:
            raise RequestError(
                "; ".join(f"row {row}: {problem}" for row, problem in sorted(errors.items()))
            )
        return self._answers(images)

    def answer_each(self, frame: pd.DataFrame) -> dict[str, list]:
        """``predict_rows``'s answer as ``OUTPUT_COLUMNS`` lists of plain Python values."""
        images, errors = self.read_rows(frame)
        answers = self._answers(images)
        if not errors:
            return answers
        good = iter(range(len(images)))
        picks = [None if row in errors else next(good) for row in range(len(frame))]
        return {
            name: [
                _failed(name, errors[row]) if i is None else values[i]
                for row, i in enumerate(picks)
            ]
            for name, values in answers.items()
        }


def _failed(column: str, error: str):
    """A row without a class: its value in ``column``."""
    return {
        "predicted_class": None,
        "probability": None,  # NaN in a DataFrame (pandas infers it), null in served JSON
        "probabilities": {},
        "topk": [],
        "unknown": None,
        "error": error,
    }[column]


# the dtype pandas infers for a column of str: str (pandas 3) or object (pandas 2)
TEXT_DTYPE = pd.Series(["text"]).dtype


def frame_of(columns: dict[str, list]) -> pd.DataFrame:
    """The answer: the ``OUTPUT_COLUMNS``, with the dtypes pandas infers for them. When every
    row has a class (the common case), the columns are given their dtypes directly, which
    halves the cost of building a small frame; otherwise pandas infers them."""
    n_rows = len(columns["error"])
    if n_rows and not any(columns["error"]):
        typed = {
            "predicted_class": pd.array(columns["predicted_class"], dtype=TEXT_DTYPE),
            "probability": np.array(columns["probability"], dtype=np.float64),
            "unknown": np.array(columns["unknown"], dtype=bool),
            **{name: _objects(columns[name]) for name in ("probabilities", "topk", "error")},
        }
        return pd.DataFrame(typed, index=pd.RangeIndex(n_rows), columns=OUTPUT_COLUMNS, copy=False)
    if not n_rows:
        return pd.DataFrame([], columns=OUTPUT_COLUMNS)
    # a failed row's probability is None: NaN in the frame's float column
    probability = np.array(columns["probability"], dtype=np.float64)
    return pd.DataFrame(columns | {"probability": probability}, columns=OUTPUT_COLUMNS)


def records(columns: dict[str, list]) -> list[dict]:
    """The answer as one dict per row, in ``OUTPUT_COLUMNS`` order: what a DataFrame answer
    becomes in MLflow's scoring server (``to_dict(orient="records")``), without building
    the frame."""
    return [
        dict(zip(OUTPUT_COLUMNS, row, strict=True))
        for row in zip(*(columns[name] for name in OUTPUT_COLUMNS), strict=True)
    ]


def _objects(values: list) -> np.ndarray:
    """A 1-D object array of ``values`` (NumPy would make lists of lists 2-D)."""
    array = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        array[i] = value
    return array


def _log_providers(requested: list[str], used: list[str], threads: int) -> None:
    """One line saying where ONNX Runtime runs; a warning when it could not use the first
    provider asked for (e.g. CUDA without a GPU or its libraries)."""
    logger.info(
        "ONNX Runtime runs on %s (asked for %s; this build offers %s), %s intra-op threads",
        ", ".join(used),
        ", ".join(requested),
        ", ".join(ort.get_available_providers()),
        threads or "default",
    )
    if requested and requested[0] not in used:
        logger.warning(
            "ONNX Runtime could not use %s (see its message above) and runs on %s",
            requested[0],
            ", ".join(used),
        )


def _is_set(value) -> bool:
    """A non-empty string or bytes value (None, NaN and empty ones are not set)."""
    return isinstance(value, (str, bytes, bytearray, memoryview)) and len(value) > 0
