"""Which ONNX model serves: fp32 (the evaluated one) or its int8 quantisation."""

from __future__ import annotations

from typing import TypeVar

Model = TypeVar("Model")
PRECISIONS = ("fp32", "int8")


def model_of_precision(fp32_model: Model, int8_model: Model, precision: str,
                       parameter: str) -> Model:
    """The fp32 or the int8 model; an error naming ``parameter`` for any other precision."""
    if precision not in PRECISIONS:
        raise ValueError(f"{parameter} must be one of {list(PRECISIONS)}, got {precision!r}")
    return fp32_model if precision == "fp32" else int8_model
