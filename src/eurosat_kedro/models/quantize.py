"""Static int8 quantisation of an exported ONNX model with ONNX Runtime's quantiser."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quant_pre_process,
    quantize_static,
)

from eurosat_kedro.preprocessing import normalize
from eurosat_kedro.serving.model_card import ModelCard


class QuantizationError(ValueError):
    """The int8 model cannot be built (no calibration images)."""


class _Calibration(CalibrationDataReader):
    """Feeds normalised batches of uint8 images to ONNX Runtime's calibrator."""

    def __init__(self, images: np.ndarray, input_name: str, batch_size: int = 64):
        self._batches = iter(
            [
                {input_name: normalize(images[i : i + batch_size])}
                for i in range(0, len(images), batch_size)
            ]
        )

    def get_next(self) -> dict | None:
        return next(self._batches, None)


def quantize_static_int8(
    onnx_model: onnx.ModelProto, calibration_images: np.ndarray
) -> onnx.ModelProto:
    """QDQ int8 model (per-channel int8 weights, uint8 activations) whose activation ranges
    are calibrated on ``calibration_images`` (uint8 NHWC); the metadata is kept, with
    ``precision`` set to ``int8``."""
    if len(calibration_images) == 0:
        raise QuantizationError("int8 calibration needs at least one image")
    with tempfile.TemporaryDirectory() as tmp:  # ORT's quantiser works on files
        source, prepared, quantized = (
            Path(tmp) / f"{name}.onnx" for name in ("fp32", "prepared", "int8")
        )
        onnx.save(onnx_model, str(source), save_as_external_data=False)
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(quantized),
            _Calibration(calibration_images, onnx_model.graph.input[0].name),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
        proto = onnx.load(str(quantized))
    ModelCard.of(onnx_model).with_precision("int8").write_to(proto)
    return proto
