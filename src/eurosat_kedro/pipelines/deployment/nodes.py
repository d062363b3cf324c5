"""Nodes of the deployment pipeline."""

from __future__ import annotations

import base64
import io
import logging

import numpy as np
import onnx
import pandas as pd
import torch
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema
from PIL import Image

from eurosat_kedro.models import load_trained_model
from eurosat_kedro.preprocessing import IMAGE_SIZE
from eurosat_kedro.serving.classifier import OnnxClassifier
from eurosat_kedro.training.loop import predict_logits

logger = logging.getLogger(__name__)


class ParityError(AssertionError):
    """ONNX Runtime and PyTorch disagree beyond the tolerance."""


def export_onnx(trained_model: dict, opset: int, tta: bool = False) -> onnx.ModelProto:
    """The best model as ONNX: input ``image`` (N, 3, 64, 64) float32 normalised, output
    ``logits``; dynamic batch axis; class names, opset and versions in the metadata; the
    8-view averaging inside the graph when ``tta``."""
    model = load_trained_model(trained_model, tta)
    example = torch.zeros(2, 3, IMAGE_SIZE, IMAGE_SIZE)
    program = torch.onnx.export(
        model, (example,), input_names=["image"], output_names=["logits"],
        opset_version=opset, dynamo=True, external_data=False,
        dynamic_shapes={"x": {0: torch.export.Dim("batch", min=1, max=4096)}},
    )
    proto = program.model_proto
    meta = {"classes": ",".join(trained_model["classes"]), "opset": str(opset),
            "model_name": trained_model["spec"]["name"], "torch": str(torch.__version__),
            "preprocessing": "eurosat_kedro.preprocessing.normalize", "tta": str(tta).lower()}
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    logger.info("Exported %s to ONNX (opset %d)", trained_model["spec"]["name"], opset)
    return proto


def check_onnx_parity(onnx_model: onnx.ModelProto, trained_model: dict, test_arrays: dict,
                      n_images: int, tolerance: float, tta: bool = False) -> dict:
    """Run the serving classifier (ONNX Runtime) and PyTorch on test images; fail unless
    logits agree within ``tolerance`` and every argmax is equal."""
    images = test_arrays["images"][:n_images]
    served = OnnxClassifier(onnx_model.SerializeToString(), trained_model["classes"])
    onnx_logits = served.logits(images)
    torch_logits = predict_logits(load_trained_model(trained_model, tta), images)
    max_diff = float(np.abs(onnx_logits - torch_logits).max())
    same_argmax = bool((onnx_logits.argmax(1) == torch_logits.argmax(1)).all())
    opset = next(o.version for o in onnx_model.opset_import if o.domain in ("", "ai.onnx"))
    report = {"n_images": len(images), "max_abs_logit_diff": max_diff, "tolerance": tolerance,
              "argmax_identical": same_argmax, "opset": opset}
    if max_diff > tolerance or not same_argmax:
        raise ParityError(
            f"ONNX export does not match PyTorch on {len(images)} test images: max |logit diff| "
            f"{max_diff:.2e} (tolerance {tolerance:.0e}), argmax identical: {same_argmax}. "
            "Try another deployment.onnx_opset, or report the model and torch version."
        )
    logger.info("ONNX parity: max |logit diff| %.2e on %d images", max_diff, len(images))
    return report


def _example_b64(image: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def build_serving_model(onnx_model: onnx.ModelProto, classes: list[str], test_arrays: dict,
                        topk: int, allowed_roots: list[str]) -> dict:
    """What the pyfunc dataset saves: the ONNX model, its config, signature and an example."""
    signature = ModelSignature(inputs=Schema([
        ColSpec("string", "image_path", required=False),
        ColSpec("string", "image_b64", required=False),
    ]))
    example = pd.DataFrame({"image_b64": [_example_b64(test_arrays["images"][0])]})
    return {
        "onnx_model": onnx_model,
        "config": {"classes": list(classes), "topk": topk, "allowed_roots": list(allowed_roots)},
        "signature": signature,
        "input_example": example,
    }
