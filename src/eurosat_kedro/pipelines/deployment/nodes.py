from __future__ import annotations

import base64
import io
import logging
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import torch
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema
from PIL import Image

from eurosat_kedro import registry
from eurosat_kedro.metrics import headline_scores
from eurosat_kedro.models import load_trained_model, predict_logits
from eurosat_kedro.models import quantize as int8
from eurosat_kedro.models.export import metadata_of, prepare_for_export
from eurosat_kedro.models.quantize import QuantizationError
from eurosat_kedro.preprocessing import IMAGE_SIZE
from eurosat_kedro.serving.classifier import ON_ERROR, OnnxClassifier

logger = logging.getLogger(__name__)


class ParityError(AssertionError):
    """ONNX Runtime and PyTorch disagree beyond the tolerance."""


def export_onnx(
    trained_model: dict, opset: int, tta: bool = False, full_map_convs_as_matmul: bool = True
) -> onnx.ModelProto:
    """The best model as ONNX: input ``image`` (N, 3, 64, 64) float32 normalised, output
    ``logits``; dynamic batch axis; class names, opset and versions in the metadata; the
    8-view averaging inside the graph when ``tta``; convolutions that see their whole input
    map as matrix products when ``full_map_convs_as_matmul`` (see ``models.export``)."""
    model, rewritten = prepare_for_export(
        load_trained_model(trained_model, tta), IMAGE_SIZE, full_map_convs_as_matmul
    )
    example = torch.zeros(2, 3, IMAGE_SIZE, IMAGE_SIZE)
    program = torch.onnx.export(
        model,
        (example,),
        input_names=["image"],
        output_names=["logits"],
        opset_version=opset,
        dynamo=True,
        external_data=False,
        dynamic_shapes={"x": {0: torch.export.Dim("batch", min=1, max=4096)}},
    )
    proto = program.model_proto
    onnx.helper.set_model_props(
        proto,
        {
            "classes": ",".join(trained_model["classes"]),
            "opset": str(opset),
            "model_name": trained_model["spec"]["name"],
            "torch": str(torch.__version__),
            "preprocessing": "eurosat_kedro.preprocessing.normalize",
            "tta": str(tta).lower(),
            "precision": "fp32",
            "full_map_convs_as_matmul": str(rewritten),
        },
    )
    onnx.checker.check_model(proto)
    logger.info("Exported %s to ONNX (opset %d)", trained_model["spec"]["name"], opset)
    return proto


def check_onnx_parity(
    onnx_model: onnx.ModelProto,
    trained_model: dict,
    test_arrays: dict,
    n_images: int,
    tolerance: float,
    tta: bool = False,
) -> dict:
    """Run the serving classifier (ONNX Runtime) and PyTorch on test images; fail unless
    logits agree within ``tolerance`` and every argmax is equal."""
    images = test_arrays["images"][:n_images]
    served = OnnxClassifier(onnx_model.SerializeToString(), trained_model["classes"])
    onnx_logits = served.logits(images)
    torch_logits = predict_logits(load_trained_model(trained_model, tta), images)
    max_diff = float(np.abs(onnx_logits - torch_logits).max())
    same_argmax = bool((onnx_logits.argmax(1) == torch_logits.argmax(1)).all())
    opset = next(o.version for o in onnx_model.opset_import if o.domain in ("", "ai.onnx"))
    report = {
        "n_images": len(images),
        "max_abs_logit_diff": max_diff,
        "tolerance": tolerance,
        "argmax_identical": same_argmax,
        "opset": opset,
    }
    if max_diff > tolerance or not same_argmax:
        raise ParityError(
            f"ONNX export does not match PyTorch on {len(images)} test images: max |logit diff| "
            f"{max_diff:.2e} (tolerance {tolerance:.0e}), argmax identical: {same_argmax}. "
            "Try another deployment.onnx_opset, or report the model and torch version."
        )
    logger.info("ONNX parity: max |logit diff| %.2e on %d images", max_diff, len(images))
    return report


def quantize_int8(
    onnx_model: onnx.ModelProto, val_arrays: dict, calibration_images: int
) -> onnx.ModelProto:
    """Static int8 quantisation calibrated on ``calibration_images`` validation images spread
    evenly over the split; the test split stays untouched for the comparison."""
    images = val_arrays["images"]
    if len(images) == 0 or calibration_images < 1:
        raise QuantizationError(
            "int8 calibration needs validation images: check val_arrays and "
            f"deployment.int8.calibration_images (got {calibration_images})"
        )
    pick = np.unique(
        np.linspace(0, len(images) - 1, min(calibration_images, len(images))).round().astype(int)
    )
    proto = int8.quantize_int8(onnx_model, images[pick])
    logger.info("Quantised the ONNX model to int8 (calibrated on %d validation images)", len(pick))
    return proto


def compare_int8(
    onnx_model: onnx.ModelProto,
    onnx_model_int8: onnx.ModelProto,
    test_arrays: dict,
    classes: list[str],
) -> tuple[dict, dict, float]:
    """Test-split accuracy and macro F1 of the fp32 and int8 ONNX models, through the
    serving classifier: the report, its figures as MLflow metrics, and the accuracy points
    int8 loses (what the serving choice checks)."""
    labels = test_arrays["labels"]
    report: dict = {"n_images": int(len(labels))}
    predictions = {}
    for precision, model in (("fp32", onnx_model), ("int8", onnx_model_int8)):
        served = OnnxClassifier(model.SerializeToString(), classes)
        predictions[precision] = served.logits(test_arrays["images"]).argmax(1)
        scores = headline_scores(labels, predictions[precision], len(classes))
        report.update({f"{precision}_{name}": value for name, value in scores.items()})
    report["accuracy_drop_points"] = 100 * (report["fp32_accuracy"] - report["int8_accuracy"])
    report["prediction_agreement"] = float((predictions["fp32"] == predictions["int8"]).mean())
    logger.info(
        "ONNX test accuracy: fp32 %.4f, int8 %.4f (agreement %.4f)",
        report["fp32_accuracy"],
        report["int8_accuracy"],
        report["prediction_agreement"],
    )
    metrics = {
        key: {"value": report[key], "step": 0}
        for key in (
            "fp32_accuracy",
            "int8_accuracy",
            "accuracy_drop_points",
            "prediction_agreement",
        )
    }
    return report, metrics, report["accuracy_drop_points"]


def select_serving_model(
    onnx_model: onnx.ModelProto,
    onnx_model_int8: onnx.ModelProto,
    int8_accuracy_drop: float,
    precision: str,
    max_accuracy_drop: float,
) -> onnx.ModelProto:
    """The ONNX model to serve: fp32, or int8 when it keeps test accuracy within
    ``max_accuracy_drop`` points of fp32."""
    models = {"fp32": onnx_model, "int8": onnx_model_int8}
    if precision not in models:
        raise ValueError(
            f"deployment.serve_precision must be one of {list(models)}, got {precision!r}"
        )
    model = models[precision]
    if precision == "int8" and int8_accuracy_drop > max_accuracy_drop:
        raise QuantizationError(
            f"The int8 model loses {int8_accuracy_drop:.2f} points of test accuracy against "
            f"fp32 (see 08_reporting/int8_report.json), more than "
            f"deployment.int8.max_accuracy_drop={max_accuracy_drop}. Serve fp32 "
            "(deployment.serve_precision=fp32), or calibrate on more images "
            "(deployment.int8.calibration_images)."
        )
    return model


def _example_b64(image: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def package_mlflow_model(
    onnx_model: onnx.ModelProto,
    classes: list[str],
    test_arrays: dict,
    topk: int,
    allowed_roots: list[str],
) -> dict:
    """What the pyfunc dataset saves: the ONNX model, its config (with the precision the
    model's metadata records), signature and an example."""
    precision = metadata_of(onnx_model).get("precision", "fp32")
    signature = ModelSignature(
        inputs=Schema(
            [
                ColSpec("string", "image_path", required=False),
                ColSpec("string", "image_b64", required=False),
                ColSpec("binary", "image_bytes", required=False),
            ]
        ),
        params=ParamSchema([ParamSpec("on_error", "string", ON_ERROR[0])]),
    )
    example = pd.DataFrame({"image_b64": [_example_b64(test_arrays["images"][0])]})
    return {
        "onnx_model": onnx_model,
        "config": {
            "classes": list(classes),
            "topk": topk,
            "allowed_roots": list(allowed_roots),
            "precision": precision,
        },
        "signature": signature,
        "input_example": example,
    }


def fingerprint_test_split(test_arrays: dict) -> str:
    """The test split's fingerprint: registry versions compare accuracies only when equal."""
    return registry.split_fingerprint(test_arrays)


def register_model(
    mlflow_model,
    serving_onnx_model: onnx.ModelProto,
    metrics: dict,
    int8_report: dict,
    test_split: str,
    registry_params: dict,
) -> dict:
    """Register the model logged to this MLflow run as a new version of
    ``deployment.registry.model_name``, tagged for review, and give it the ``champion`` alias
    when the gate allows (``registry.decide_alias``), else ``challenger``. Returns the report.
    """
    import mlflow

    name = registry_params.get("model_name")
    run = mlflow.active_run()
    if not name or run is None:
        why = (
            "deployment.registry.model_name is not set"
            if not name
            else "no MLflow run is active (tracking is disabled for this pipeline)"
        )
        logger.warning("Not registering the model: %s", why)
        return {"registered": False, "reason": why}
    logged = mlflow.last_logged_model()
    if logged is None or logged.source_run_id != run.info.run_id:
        raise RuntimeError(
            "The served model was not logged to this MLflow run, so it cannot be "
            "registered: run the whole deployment pipeline."
        )
    meta = metadata_of(serving_onnx_model)
    precision = meta.get("precision", "fp32")
    scores = (
        metrics
        if precision == "fp32"
        else {"accuracy": int8_report["int8_accuracy"], "macro_f1": int8_report["int8_macro_f1"]}
    )
    mlflow.log_metrics(
        {"served.test_accuracy": scores["accuracy"], "served.test_macro_f1": scores["macro_f1"]},
        model_id=logged.model_id,
    )
    tags = {
        "model_name": meta.get("model_name", "unknown"),
        "precision": precision,
        "tta": meta.get("tta", "false"),
        "test_accuracy": f"{scores['accuracy']:.6f}",
        "test_macro_f1": f"{scores['macro_f1']:.6f}",
        "data_fingerprint": test_split,
        "git_commit": registry.git_commit(Path.cwd()),
        "run_id": run.info.run_id,
    }
    models = registry.Registry(name)
    champion = models.champion()
    version = models.register(logged.model_uri, tags)
    alias, reason = registry.decide_alias(
        registry.Candidate(scores["accuracy"], test_split),
        champion,
        registry_params.get("promote", "auto"),
        float(registry_params.get("min_improvement", 0)),
    )
    models.set_alias(alias, version, reason)
    mlflow.set_tags(
        {"registry.version": version, "registry.alias": alias, "registry.reason": reason}
    )
    message = f"Model registry: {name} version {version} is {alias}: {reason}"
    (logger.info if alias == "champion" else logger.warning)(message)
    print(message)
    return {
        "registered": True,
        "registered_model": name,
        "version": version,
        "alias": alias,
        "reason": reason,
        "model_uri": f"models:/{name}/{version}",
        "tags": tags,
    }
