"""Nodes of the evaluation pipeline: test-split predictions, metrics and plots."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from eurosat_kedro import calibration, lineage, robustness
from eurosat_kedro.comparison import side_by_side
from eurosat_kedro.metrics import headline_scores
from eurosat_kedro.models import TrainedModel, load_trained_model, predict_logits
from eurosat_kedro.plots import (
    confusion_matrix_figure,
    coverage_figure,
    curves_figure,
    image_grid_figure,
    reliability_figure,
)
from eurosat_kedro.serving.predict import softmax
from eurosat_kedro.stats import INTERVALS, wilson_interval
from eurosat_kedro.training.distill import weights_sha256

logger = logging.getLogger(__name__)


def predict_split_logits(
    trained_model: TrainedModel, val_arrays: dict, test_arrays: dict, batch_size: int, tta: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The model's raw (uncalibrated) logits for every validation and test image (the mean
    over the 8 flips/rotations when ``tta``)."""
    model = load_trained_model(trained_model, tta)
    return tuple(
        predict_logits(model, arrays["images"], batch_size) for arrays in (val_arrays, test_arrays)
    )


def fit_calibration(val_logits: np.ndarray, val_arrays: dict, tta: bool, settings: dict) -> dict:
    """Fit the temperature on the validation split (``settings["temperature_scaling"]``; off:
    1), then the "unknown" threshold on its calibrated top-class probability that answers
    ``settings["target_coverage"]`` of the validation images; ``calibration.json``."""
    labels = np.asarray(val_arrays["labels"])
    temperature = (
        calibration.fit_temperature(val_logits, labels)
        if settings.get("temperature_scaling", True)
        else 1.0
    )
    coverage = float(settings.get("target_coverage", 1.0))
    figures = {}
    for name, t in (("before", 1.0), ("after", temperature)):
        predicted, confidence = calibration.top_class(val_logits, t)
        figures[f"nll_{name}"] = calibration.negative_log_likelihood(val_logits, labels, t)
        figures[f"ece_{name}"] = calibration.expected_calibration_error(
            confidence, predicted == labels
        )
    threshold = calibration.threshold_for_coverage(confidence, coverage)
    answered = calibration.accuracy_at_coverage(confidence, predicted == labels, threshold)
    figures.update(coverage=answered["coverage"], accuracy_answered=answered["accuracy"])
    logger.info(
        "Calibration on %d validation images: temperature %.3f, ECE %.2f%% -> %.2f%%; "
        "'unknown' below %.3f answers %.1f%% of them",
        len(labels),
        temperature,
        100 * figures["ece_before"],
        100 * figures["ece_after"],
        threshold,
        100 * answered["coverage"],
    )
    return calibration.Calibration(
        temperature=temperature,
        tta=tta,
        unknown_threshold=threshold if coverage < 1 else 0.0,
        target_coverage=coverage,
        n_images=len(labels),
        figures=figures,
    ).to_dict()


def predict_test_split(
    test_logits: np.ndarray, test_arrays: dict, classes: list[str], calibration_fit: dict
) -> pd.DataFrame:
    """One row per test image: path, true label, predicted label and the calibrated class
    probabilities (the model's temperature applied)."""
    temperature = calibration.Calibration.from_dict(calibration_fit).temperature
    probabilities = softmax(test_logits / temperature)
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


def report_calibration(test_logits: np.ndarray, test_arrays: dict, calibration_fit: dict):
    """On the test split, before and after the temperature: expected calibration error
    (15 bins), negative log-likelihood and the reliability diagram; the accuracy against
    coverage of the calibrated top-class probability and of the energy score, and what the
    "unknown" threshold answers. Returns the report, its MLflow metrics and two figures."""
    fit = calibration.Calibration.from_dict(calibration_fit)
    labels = np.asarray(test_arrays["labels"])
    report: dict = {"split": "test", "n_images": len(labels), "temperature": fit.temperature}
    diagrams = {}
    for name, t in (("before", 1.0), ("after", fit.temperature)):
        predicted, confidence = calibration.top_class(test_logits, t)
        correct = predicted == labels
        bins = calibration.reliability_bins(confidence, correct)
        diagrams[name] = bins
        report[name] = {
            "ece": calibration.expected_calibration_error(confidence, correct),
            "nll": calibration.negative_log_likelihood(test_logits, labels, t),
            "mean_confidence": float(confidence.mean()),
            "accuracy": float(correct.mean()),
            "reliability": bins,
        }
    energy = calibration.energy_score(test_logits, fit.temperature)
    report["coverage"] = {
        "top_class_probability": calibration.risk_coverage_curve(
            confidence, correct, calibration.COVERAGES
        ),
        "energy": calibration.risk_coverage_curve(energy, correct, calibration.COVERAGES),
        "errors_auroc": {
            "top_class_probability": _separation(confidence, correct),
            "energy": _separation(energy, correct),
        },
    }
    report["unknown"] = {
        "target_coverage": fit.target_coverage,
        **calibration.accuracy_at_coverage(confidence, correct, fit.unknown_threshold),
    }
    metrics = {
        "temperature": fit.temperature,
        "ece_before": report["before"]["ece"],
        "ece_after": report["after"]["ece"],
        "nll_before": report["before"]["nll"],
        "nll_after": report["after"]["nll"],
        "unknown_threshold": fit.unknown_threshold,
        "coverage": report["unknown"]["coverage"],
        "accuracy_answered": report["unknown"]["accuracy"],
    }
    mlflow_metrics = {
        key: {"value": float(value), "step": 0}
        for key, value in metrics.items()
        if np.isfinite(value)
    }
    return (
        report,
        mlflow_metrics,
        reliability_figure(diagrams, report["before"]["ece"], report["after"]["ece"]),
        coverage_figure(
            {
                "calibrated top-class probability": confidence,
                "energy score": energy,
            },
            correct,
            report["unknown"],
        ),
    )


def _separation(scores: np.ndarray, correct: np.ndarray) -> float:
    """AUROC of ``scores`` for telling correct predictions from errors (NaN without both)."""
    from sklearn.metrics import roc_auc_score

    if correct.all() or not correct.any():
        return float("nan")
    return float(roc_auc_score(correct, scores))


# The teacher's two views in the comparison: name -> (with TTA, prefix of its MLflow metrics).
_TEACHER_VIEWS = {"teacher_tta": (True, "test_"), "teacher_one_pass": (False, "one_pass_test_")}


def compare_with_teacher(
    teacher_model: TrainedModel | None,
    test_logits: np.ndarray,
    test_arrays: dict,
    batch_size: int,
    tta: bool,
) -> tuple[dict, dict]:
    """A distilled student against its teacher on the test split: the teacher with
    test-time augmentation (what the student learned from), the teacher in one pass (the
    recipe's plain model) and the student as evaluated (``evaluation.tta``), each with its
    accuracy and macro F1 and their 95% intervals, and McNemar's exact test between each
    pair (``teacher_comparison.json``; MLflow: ``teacher.*``). Without a teacher
    (``training.distill.teacher`` null): ``{"teacher": None}`` and no metrics."""
    if teacher_model is None:
        return {"teacher": None}, {}
    images, labels = test_arrays["images"], test_arrays["labels"]
    predicted = {
        name: predict_logits(
            load_trained_model(teacher_model, with_tta), images, batch_size
        ).argmax(axis=1)
        for name, (with_tta, _) in _TEACHER_VIEWS.items()
    }
    predicted["student"] = test_logits.argmax(axis=1)
    report = side_by_side(predicted, labels, len(teacher_model.classes))
    for name, (with_tta, _) in _TEACHER_VIEWS.items():
        report["models"][name]["tta"] = with_tta
    report["models"]["student"]["tta"] = tta
    report["teacher"] = {  # which one: as the student's run is tagged (distill.*)
        "sha256": weights_sha256(teacher_model.state_dict),
        "model": teacher_model.spec.name,
        "best_epoch": teacher_model.best_epoch,
        "best_val_accuracy": teacher_model.best_val_accuracy,
    }
    versus = report["pairs"]["teacher_tta vs student"]
    logger.info(
        "The student %.2f%% against its teacher %.2f%% with TTA, %.2f%% in one pass (%d test "
        "images; only the teacher right on %d, only the student on %d: McNemar p = %.3g)",
        100 * report["models"]["student"]["accuracy"],
        100 * report["models"]["teacher_tta"]["accuracy"],
        100 * report["models"]["teacher_one_pass"]["accuracy"],
        len(labels),
        versus["n01"],
        versus["n10"],
        versus["p_value"],
    )
    metrics = {
        f"{prefix}{key}": report["models"][name][key]
        for name, (_, prefix) in _TEACHER_VIEWS.items()
        for key in ("accuracy", "accuracy_ci_low", "accuracy_ci_high", "macro_f1")
    }
    metrics.update({f"student_{key}": float(value) for key, value in versus.items()})
    return report, {key: {"value": float(v), "step": 0} for key, v in metrics.items()}


def compute_metrics(predictions: pd.DataFrame, classes: list[str]) -> tuple[dict, dict]:
    """Accuracy and macro F1 with their 95% intervals, per-class precision/recall/F1 (recall
    with its 95% Wilson interval) and the confusion matrix (JSON), and the headline figures
    and per-class recall with their intervals as MLflow metrics (``eurosat_kedro.stats``)."""
    y_true, y_pred = predictions["label"].to_numpy(), predictions["predicted"].to_numpy()
    labels = list(range(len(classes)))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    confusion = confusion_matrix(y_true, y_pred, labels=labels)
    per_class = {}
    for i, name in enumerate(classes):
        recall_low, recall_high = wilson_interval(int(confusion[i, i]), int(support[i]))
        per_class[name] = {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "recall_ci_low": recall_low,
            "recall_ci_high": recall_high,
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
    headline = headline_scores(y_true, y_pred, len(classes))
    metrics = {
        "split": "test",
        "n_images": len(y_true),
        **headline,
        "intervals": INTERVALS,
        "per_class": per_class,
        "confusion_matrix": confusion.tolist(),
        "classes": list(classes),
    }
    figures = dict(headline)  # accuracy, accuracy_ci_low, accuracy_ci_high, macro_f1, ...
    for name, scores in per_class.items():
        figures[f"f1.{name}"] = scores["f1"]
        figures[f"recall.{name}"] = scores["recall"]
        figures[f"recall.{name}.ci_low"] = scores["recall_ci_low"]
        figures[f"recall.{name}.ci_high"] = scores["recall_ci_high"]
    mlflow_metrics = {key: {"value": value, "step": 0} for key, value in figures.items()}
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


def evaluate_robustness(
    trained_model: TrainedModel, test_arrays: dict, batch_size: int, tta: bool, settings: dict
) -> tuple[dict, pd.DataFrame, dict]:
    """Test accuracy under each radiometric shift of ``settings`` (``evaluation.robustness``),
    applied to the uint8 test images before preprocessing, the model used as evaluation uses
    it: the report, its table and MLflow metrics ``<shift>.accuracy``. Empty when off."""
    shifts = robustness.shifts_from_params(settings)
    report = {
        "split": "test",
        "n_images": len(test_arrays["labels"]),
        "tta": tta,
        "confidence": robustness.CONFIDENCE,
        "rows": [],
    }
    if not shifts:
        logger.info("Robustness evaluation is off (evaluation.robustness)")
        return report, pd.DataFrame(columns=robustness.COLUMNS), {}
    model = load_trained_model(trained_model, tta)
    rows = robustness.accuracy_under_shifts(
        lambda images: predict_logits(model, images, batch_size).argmax(axis=1),
        test_arrays["images"],
        test_arrays["labels"],
        shifts,
        chunk=batch_size,
    )
    for row in rows:
        logger.info(
            "%-12s accuracy %.2f%% [%.2f, %.2f], %+.2f points from clean",
            row["name"],
            *(100 * row[key] for key in ("accuracy", "ci_low", "ci_high")),
            -100 * row["drop"],
        )
    metrics = {f"{row['name']}.accuracy": {"value": row["accuracy"], "step": 0} for row in rows}
    report["rows"] = rows
    return report, pd.DataFrame(rows, columns=robustness.COLUMNS), metrics
