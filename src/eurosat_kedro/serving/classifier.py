"""The exported classifier: ONNX Runtime on shared preprocessing; no torch, no Kedro."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd

from eurosat_kedro.preprocessing import IMAGE_SIZE, normalize

from .contract import (
    ALLOWED_ROOTS_ENV,
    DEFAULT_TOPK,
    INPUT_COLUMNS,
    ORT_THREADS_ENV,
    OUTPUT_COLUMNS,
    ServingConfig,
)
from .images import ImageInputError, read_b64, read_bytes, read_path
from .predict import describe, softmax


class RequestError(ValueError):
    """Some rows of a request are unusable; the message names each row and its problem."""


class OnnxClassifier:
    """Predict EuroSAT classes for images given by path, base64 text or raw bytes, through ONNX
    Runtime."""

    def __init__(
        self,
        onnx_model: str | Path | bytes,
        classes: list[str],
        topk: int = DEFAULT_TOPK,
        allowed_roots: list[str] | None = None,
        threads: int = 0,
    ):
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        source = onnx_model if isinstance(onnx_model, bytes) else str(onnx_model)
        self.session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.classes = list(classes)
        self.topk = topk
        self.allowed_roots = (
            None
            if allowed_roots is None
            else [Path(r).expanduser().resolve() for r in allowed_roots]
        )

    @classmethod
    def from_config(cls, onnx_path: str | Path, config_path: str | Path) -> OnnxClassifier:
        """Build from the ``ServingConfig`` saved beside the model; ``EUROSAT_ALLOWED_ROOTS``
        (os.pathsep-separated) overrides the allowed roots, ``EUROSAT_ORT_THREADS`` sets ONNX
        Runtime's intra-op threads (0 or unset: one per core; Spark sets 1 per task)."""
        config = ServingConfig.from_json(json.loads(Path(config_path).read_text()))
        roots = list(config.allowed_roots)
        if os.environ.get(ALLOWED_ROOTS_ENV):
            roots = os.environ[ALLOWED_ROOTS_ENV].split(os.pathsep)
        threads = int(os.environ.get(ORT_THREADS_ENV) or 0)
        return cls(onnx_path, list(config.classes), config.topk, roots, threads)

    def logits(self, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Logits for uint8 ``(N, 64, 64, 3)`` images."""
        out = [
            self.session.run(None, {self.input_name: normalize(images[i : i + batch_size])})[0]
            for i in range(0, len(images), batch_size)
        ]
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
        images, errors = [], {}
        for row, record in enumerate(frame[columns].to_dict("records")):
            given = {name: value for name, value in record.items() if _is_set(value)}
            try:
                if len(given) > 1:
                    raise ImageInputError(f"both {' and '.join(given)} are set; send one")
                if "image_b64" in given:
                    images.append(read_b64(given["image_b64"]))
                elif "image_bytes" in given:
                    images.append(read_bytes(given["image_bytes"]))
                elif "image_path" in given:
                    images.append(read_path(given["image_path"], self.allowed_roots))
                elif any(isinstance(value, bytes) for value in record.values()):
                    raise ImageInputError("image_bytes is empty (a 0-byte file)")
                else:
                    raise ImageInputError(f"none of {', '.join(columns)} is set")
            except ImageInputError as error:
                errors[row] = str(error)
        stacked = np.stack(images) if images else np.zeros((0, IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8)
        return stacked, errors

    def _answers(self, images: np.ndarray) -> list[dict]:
        """One answer per image: the ``OUTPUT_COLUMNS`` with ``error`` None."""
        return [
            {**result, "probability": result["topk"][0]["probability"], "error": None}
            for result in describe(softmax(self.logits(images)), self.classes, self.topk)
        ]

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """All rows or none: any bad row raises RequestError naming every bad row."""
        images, errors = self.read_rows(frame)
        if errors:
            raise RequestError(
                "; ".join(f"row {row}: {problem}" for row, problem in sorted(errors.items()))
            )
        return pd.DataFrame(self._answers(images), columns=OUTPUT_COLUMNS)

    def predict_rows(self, frame: pd.DataFrame) -> pd.DataFrame:
        """One output row per input row, whatever its problem: the prediction and
        ``error=None``, or ``error`` with no class (``probability`` NaN, empty ``topk`` and
        ``probabilities``), so a batch job never loses or fails on a row."""
        images, errors = self.read_rows(frame)
        answers = iter(self._answers(images))
        failed = {"predicted_class": None, "probability": float("nan"), "probabilities": {}}
        rows = [
            {**failed, "topk": [], "error": errors[row]} if row in errors else next(answers)
            for row in range(len(frame))
        ]
        return pd.DataFrame(rows, columns=OUTPUT_COLUMNS)


def _is_set(value) -> bool:
    """A non-empty string or bytes value (None, NaN and empty ones are not set)."""
    return isinstance(value, (str, bytes, bytearray, memoryview)) and len(value) > 0
