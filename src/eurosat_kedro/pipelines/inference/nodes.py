"""Nodes of the inference pipeline."""

from __future__ import annotations

import json
import logging

import pandas as pd

from eurosat_kedro.datasets.served_model_dataset import ServedModel
from eurosat_kedro.serving.classifier import OnnxClassifier
from eurosat_kedro.serving.contract import TABLE_COLUMNS, summary

logger = logging.getLogger(__name__)


def predict_images(
    inference_model: ServedModel, inference_images: list[str], topk: int
) -> tuple[pd.DataFrame, dict]:
    """One row per file in the serving contract's ``TABLE_COLUMNS`` (a bad file gets an
    ``error`` and no class), and a JSON summary: the full prediction of a single image, the
    contract's counts for several."""
    logger.info("Predicting with %s (%s)", inference_model.model_uri, inference_model.precision)
    classifier = OnnxClassifier(inference_model.onnx_model, list(inference_model.classes), topk)
    answers = classifier.predict_rows(pd.DataFrame({"image_path": inference_images}))
    table = answers.assign(path=inference_images)[list(TABLE_COLUMNS)]
    failed = table[table["error"].notna()]
    if len(inference_images) == 1:
        if len(failed):
            raise ValueError(f"{inference_images[0]}: {failed['error'].iloc[0]}")
        result = {"path": inference_images[0], **answers.drop(columns="error").iloc[0].to_dict()}
    else:
        result = summary(
            len(table),
            table.loc[table["error"].isna(), "predicted_class"].value_counts().to_dict(),
            zip(failed["path"], failed["error"], strict=True),
            len(failed),
        )
    print(json.dumps(result, indent=2))
    return table, result
