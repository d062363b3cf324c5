"""The headline classification scores with their 95% intervals, defined once for evaluation
and the int8 comparison (the intervals: ``eurosat_kedro.stats``)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

from eurosat_kedro.stats import macro_f1_interval, wilson_interval

# what headline_scores returns: each figure and its 95% interval
HEADLINE_FIGURES = (
    "accuracy",
    "accuracy_ci_low",
    "accuracy_ci_high",
    "macro_f1",
    "macro_f1_ci_low",
    "macro_f1_ci_high",
)


def headline_scores(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> dict[str, float]:
    """Accuracy and macro F1 over all ``num_classes`` labels (absent ones count as F1 0),
    each with its 95% interval: ``accuracy_ci_low`` / ``accuracy_ci_high`` (Wilson score),
    ``macro_f1_ci_low`` / ``macro_f1_ci_high`` (seeded bootstrap over the images)."""
    labels = list(range(num_classes))
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    accuracy_low, accuracy_high = wilson_interval(int((y_true == y_pred).sum()), len(y_true))
    f1_low, f1_high = macro_f1_interval(y_true, y_pred, num_classes)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "accuracy_ci_low": accuracy_low,
        "accuracy_ci_high": accuracy_high,
        "macro_f1": float(
            f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
        ),
        "macro_f1_ci_low": f1_low,
        "macro_f1_ci_high": f1_high,
    }
