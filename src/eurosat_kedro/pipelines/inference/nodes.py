"""Nodes of the inference pipeline."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from eurosat_kedro.serving.classifier import OnnxClassifier
from eurosat_kedro.serving.predict import describe, softmax

logger = logging.getLogger(__name__)


def list_images(image_path: str | None) -> list[str]:
    """The image, or every file below the folder (sorted, hidden files skipped)."""
    if not image_path:
        raise ValueError(
            "Set the image or folder to predict: kedro run --pipeline inference "
            '--params "inference.image_path=PATH"'
        )
    path = Path(image_path).expanduser()
    if path.is_file():
        return [str(path)]
    if path.is_dir():
        files = sorted(
            str(p)
            for p in path.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
        if not files:
            raise ValueError(f"inference.image_path {image_path!r} is a folder with no files")
        return files
    raise FileNotFoundError(f"inference.image_path {image_path!r}: no such file or folder")


def predict_images(inference_model: dict, paths: list[str], topk: int) -> tuple[pd.DataFrame, dict]:
    """One row per file (a bad file gets an ``error`` and no prediction), and a JSON summary:
    the full prediction for a single image, counts per class for a folder."""
    classes = inference_model["classes"]
    logger.info(
        "Predicting with %s (%s)", inference_model["model_uri"], inference_model["precision"]
    )
    classifier = OnnxClassifier(inference_model["onnx_model"], classes, topk)
    images, errors = classifier.read_rows(pd.DataFrame({"image_path": paths}))
    good_rows = [i for i in range(len(paths)) if i not in errors]
    results = dict(
        zip(good_rows, describe(softmax(classifier.logits(images)), classes, topk), strict=True)
    )
    table = pd.DataFrame(
        [
            {
                "image_path": path,
                "predicted_class": results[i]["predicted_class"],
                "probability": results[i]["topk"][0]["probability"],
                "topk": json.dumps(results[i]["topk"]),
                "error": None,
            }
            if i in results
            else {
                "image_path": path,
                "predicted_class": None,
                "probability": None,
                "topk": None,
                "error": errors[i],
            }
            for i, path in enumerate(paths)
        ]
    )
    if len(paths) == 1 and not errors:
        summary = {"image_path": paths[0], **results[0]}
    elif len(paths) == 1:
        raise ValueError(f"{paths[0]}: {errors[0]}")
    else:
        good = table[table["error"].isna()]
        summary = {
            "n_images": len(paths),
            "n_predicted": len(good),
            "n_errors": len(errors),
            "counts": good["predicted_class"].value_counts().to_dict(),
            "errors": [{"image_path": paths[i], "error": e} for i, e in errors.items()],
        }
    print(json.dumps(summary, indent=2))
    return table, summary
