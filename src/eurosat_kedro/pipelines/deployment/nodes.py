"""Nodes of the deployment pipeline: ONNX export and its checks, int8, the served pyfunc
logged to the MLflow run, and its registration."""

from __future__ import annotations

import base64
import io
import logging
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
from PIL import Image

from eurosat_kedro import registry
from eurosat_kedro.calibration import Calibration
from eurosat_kedro.metrics import HEADLINE_FIGURES, headline_scores
from eurosat_kedro.models import TrainedModel, load_trained_model, predict_logits
from eurosat_kedro.models import quantize as int8
from eurosat_kedro.models.export import export_onnx as export_trained_model
from eurosat_kedro.models.quantize import QuantizationError
from eurosat_kedro.serving.classifier import OnnxClassifier
from eurosat_kedro.serving.contract import ServingConfig
from eurosat_kedro.serving.model_card import ModelCard
from eurosat_kedro.serving.package import PyfuncPackage
from eurosat_kedro.stats import INTERVALS

logger = logging.getLogger(__name__)


class ParityError(AssertionError):
    """ONNX Runtime and PyTorch disagree beyond the tolerance."""


class Int8AccuracyError(ValueError):
    """int8 serving was asked for, but the int8 model loses more test accuracy than allowed."""


def export_onnx(
    trained_model: TrainedModel,
    calibration_fit: dict,
    opset: int,
    tta: bool = False,
    full_map_convs_as_matmul: bool = True,
) -> onnx.ModelProto:
    """The best model as ONNX (``models.export.export_onnx``): the 8-view averaging inside
    the graph when ``tta``, the logits divided by the fitted temperature, the "unknown"
    threshold in its card, whole-map convolutions as matrix products when asked."""
    fit = Calibration.from_dict(calibration_fit)
    fit.check_tta(tta)
    return export_trained_model(
        trained_model,
        opset,
        tta,
        full_map_convs_as_matmul,
        temperature=fit.temperature,
        unknown_threshold=fit.unknown_threshold,
    )


def check_onnx_parity(
    onnx_model: onnx.ModelProto,
    trained_model: TrainedModel,
    test_arrays: dict,
    n_images: int,
    tolerance: float,
    tta: bool = False,
) -> dict:
    """Run the serving classifier (ONNX Runtime) and PyTorch (with the temperature the
    ONNX model's card records) on test images; fail unless logits agree within
    ``tolerance`` and every argmax is equal."""
    images = test_arrays["images"][:n_images]
    served = OnnxClassifier(onnx_model.SerializeToString(), list(trained_model.classes))
    onnx_logits = served.logits(images)
    temperature = ModelCard.of(onnx_model).temperature
    torch_logits = predict_logits(load_trained_model(trained_model, tta, temperature), images)
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


def quantize_onnx_int8(
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
    proto = int8.quantize_static_int8(onnx_model, images[pick])
    logger.info("Quantised the ONNX model to int8 (calibrated on %d validation images)", len(pick))
    return proto


def compare_int8(
    onnx_model: onnx.ModelProto,
    onnx_model_int8: onnx.ModelProto,
    test_arrays: dict,
    classes: list[str],
) -> tuple[dict, dict, float, pd.DataFrame, dict]:
    """Test-split accuracy and macro F1, with their 95% intervals, of the fp32 and int8 ONNX
    models through the serving classifier: the report, its figures as MLflow metrics, the
    accuracy points int8 loses (what the serving choice checks), each model's predicted
    label per test image (``path``, ``label``, ``fp32``, ``int8``: what the champion gate
    pairs), and the scores per precision (``{"fp32": {...}, "int8": {...}}``: what the
    served model records of itself, ``score_served_model``)."""
    labels = test_arrays["labels"]
    report: dict = {"n_images": int(len(labels)), "intervals": INTERVALS}
    predictions, scores_of = {}, {}
    for precision, model in (("fp32", onnx_model), ("int8", onnx_model_int8)):
        served = OnnxClassifier(model.SerializeToString(), classes)
        predictions[precision] = served.logits(test_arrays["images"]).argmax(1)
        scores = headline_scores(labels, predictions[precision], len(classes))
        scores_of[precision] = scores
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
            "fp32_accuracy_ci_low",
            "fp32_accuracy_ci_high",
            "int8_accuracy",
            "int8_accuracy_ci_low",
            "int8_accuracy_ci_high",
            "accuracy_drop_points",
            "prediction_agreement",
        )
    }
    per_image = pd.DataFrame({"path": test_arrays["paths"], "label": labels, **predictions})
    return report, metrics, report["accuracy_drop_points"], per_image, scores_of


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
        raise Int8AccuracyError(
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


def log_mlflow_model(
    serving_onnx_model: onnx.ModelProto,
    classes: list[str],
    test_arrays: dict,
    served_test_scores: dict,
    topk: int,
    allowed_roots: list[str],
) -> tuple[PyfuncPackage, dict]:
    """Package the served model as an MLflow pyfunc (saved by the catalog as the folder
    ``mlflow models serve`` takes), its config recording its ``served_test_scores``, and log
    it to the active MLflow run. Returns the package and what identifies the logged model
    (``model_uri``, ``model_id``, ``run_id``), or ``logged: false`` and why when no run is
    active."""
    import mlflow

    package = PyfuncPackage(
        onnx_model=serving_onnx_model,
        config=ServingConfig(
            classes=tuple(classes),
            topk=topk,
            allowed_roots=tuple(allowed_roots),
            precision=ModelCard.of(serving_onnx_model).precision,
            test_scores=dict(served_test_scores),
        ),
        input_example=pd.DataFrame({"image_b64": [_example_b64(test_arrays["images"][0])]}),
    )
    if mlflow.active_run() is None:
        reason = "no MLflow run is active (tracking is disabled for this pipeline)"
        logger.warning("Not logging the model to MLflow: %s", reason)
        return package, {"logged": False, "reason": reason}
    info = package.log()
    logger.info("Logged the served model to MLflow as %s", info.model_uri)
    return package, {
        "logged": True,
        "model_uri": info.model_uri,
        "model_id": info.model_id,
        "run_id": info.run_id,
    }


def fingerprint_test_split(test_arrays: dict) -> str:
    """The test split's fingerprint: registry versions compare accuracies only when equal."""
    return registry.split_fingerprint(test_arrays)


def score_served_model(serving_onnx_model: onnx.ModelProto, onnx_test_scores: dict) -> dict:
    """Test accuracy and macro F1 of the ONNX model actually served, with their 95%
    intervals: ``compare_int8``'s scores of its precision. What the served model's
    config.json and its registered version record. (Read from the comparison in memory, not
    from the reports: a packaged model computed from 08_reporting would make kedro-viz's
    layers circular, models -> reporting -> models, and it would draw none.)"""
    precision = ModelCard.of(serving_onnx_model).precision
    scores = onnx_test_scores[precision]
    return {key: scores[key] for key in HEADLINE_FIGURES if key in scores}


def served_predictions(card: ModelCard, onnx_test_predictions: pd.DataFrame) -> pd.DataFrame:
    """The served model's predicted label per test image (``path``, ``label``,
    ``predicted``): the int8 comparison's column of the precision actually served."""
    if card.precision not in onnx_test_predictions:
        raise ValueError(
            f"onnx_test_predictions has no column {card.precision!r} (the served precision): "
            "rerun the compare_int8 node of the deployment pipeline"
        )
    return onnx_test_predictions[["path", "label", card.precision]].rename(
        columns={card.precision: "predicted"}
    )


def register_model(
    logged_model: dict,
    serving_onnx_model: onnx.ModelProto,
    served_test_scores: dict,
    onnx_test_predictions: pd.DataFrame,
    test_split: str,
    registry_params: dict,
) -> dict:
    """Register the logged model as a new version of ``deployment.registry.model_name``,
    tagged (``served_test_scores`` as ``test_*``) and described for review
    (``deployment.registry.description`` opens the registered model's description), with
    the ``champion`` alias when the gate finds it significantly better than the champion on
    the same test images (``champion_gate.decide_alias``), else ``challenger``. Returns the
    report."""
    name = registry_params.get("model_name")
    if not name or not logged_model.get("logged"):
        why = (
            "deployment.registry.model_name is not set"
            if not name
            else f"the model was not logged to MLflow: {logged_model.get('reason')}"
        )
        logger.warning("Not registering the model: %s", why)
        return {"registered": False, "reason": why}
    card = ModelCard.of(serving_onnx_model)
    tags = registry.version_tags(
        card, served_test_scores, test_split, logged_model["run_id"], Path.cwd()
    )
    report = registry.register_logged_model(
        name,
        logged_model,
        tags,
        served_predictions(card, onnx_test_predictions),
        registry_params.get("promote", "auto"),
        float(registry_params.get("min_improvement", 0)),
        float(registry_params.get("alpha", 0.05)),
        registry.model_description(card.classes, registry_params.get("description") or ""),
    )
    message = (
        f"Model registry: {name} version {report['version']} is {report['alias']}: "
        f"{report['reason']}"
    )
    (logger.info if report["alias"] == "champion" else logger.warning)(message)
    print(message)
    return report
