"""Nodes of the evaluation pipeline: test-split predictions, metrics and plots."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from eurosat_kedro import lineage
from eurosat_kedro.metrics import headline_scores
from eurosat_kedro.models import TrainedModel, load_trained_model, predict_logits
from eurosat_kedro.plots import confusion_matrix_figure, curves_figure, image_grid_figure
from eurosat_kedro.serving.predict import softmax


def predict_test_split(
    trained_model: TrainedModel, test_arrays: dict, batch_size: int, tta: bool
) -> pd.DataFrame:
    """One row per test image: path, true label, predicted label and class probabilities
    (averaged over the 8 flips/rotations when ``tta``)."""
    model = load_trained_model(trained_model, tta)
    probabilities = softmax(predict_logits(model, test_arrays["images"], batch_size))
    classes = list(trained_model.classes)
    frame = pd.DataFrame(
        {
            "path": test_arrays["paths"],
            "label": test_arrays["labels"],
            "predicted": probabilities.argmax(axis=1),
        }
    )
    for i, name in enumerate(classes):
        frame[f"p_{name}"] = probabilities[:, i]
    return frame


def compute_metrics(predictions: pd.DataFrame, classes: list[str]) -> tuple[dict, dict]:
    """Accuracy, macro F1, per-class precision/recall/F1 and the confusion matrix (JSON), and
    the headline figures as MLflow metrics."""
    y_true, y_pred = predictions["label"].to_numpy(), predictions["predicted"].to_numpy()
    labels = list(range(len(classes)))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    metrics = {
        "split": "test",
        "n_images": len(y_true),
        **headline_scores(y_true, y_pred, len(classes)),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(classes)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "classes": list(classes),
    }
    mlflow_metrics = {
        "accuracy": {"value": metrics["accuracy"], "step": 0},
        "macro_f1": {"value": metrics["macro_f1"], "step": 0},
    }
    for name in classes:
        mlflow_metrics[f"f1.{name}"] = {"value": metrics["per_class"][name]["f1"], "step": 0}
    return metrics, mlflow_metrics


def plot_training_curves(history: list[dict]):
    """Train and validation loss per epoch, and validation accuracy per epoch."""
    epochs = [row["epoch"] for row in history]
    losses = curves_figure(
        epochs,
        {
            "train loss": [r["train_loss"] for r in history],
            "val loss": [r["val_loss"] for r in history],
        },
        "Loss per epoch",
        "cross-entropy",
    )
    accuracy = curves_figure(
        epochs,
        {"val accuracy": [r["val_accuracy"] for r in history]},
        "Validation accuracy per epoch",
        "accuracy",
    )
    return losses, accuracy


def plot_confusion_matrix(metrics: dict):
    """The row-normalised confusion matrix with class names on both axes."""
    return confusion_matrix_figure(np.asarray(metrics["confusion_matrix"]), metrics["classes"])


def plot_misclassified(
    predictions: pd.DataFrame, test_arrays: dict, classes: list[str], max_images: int
):
    """A grid of misclassified test images, titled with true and predicted class."""
    wrong = np.flatnonzero(predictions["label"].to_numpy() != predictions["predicted"].to_numpy())
    shown = wrong[:max_images]
    titles = [
        f"true {classes[predictions['label'].iat[i]]}\npred "
        f"{classes[predictions['predicted'].iat[i]]}"
        for i in shown
    ]
    return image_grid_figure(
        test_arrays["images"][shown],
        titles,
        f"Misclassified test images: {len(shown)} of {len(wrong)} shown "
        f"({len(predictions)} test images)",
    )


def log_test_data(test_arrays: dict, data_report: dict) -> None:
    """Log the test split, with the archive it came from, as an input of the MLflow run
    (context ``test``): the run's Datasets tab."""
    lineage.log_splits({"test": test_arrays}, data_report.get("source"))
