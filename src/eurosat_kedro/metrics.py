"""The headline classification scores, defined once for evaluation and the int8 comparison."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, f1_score


def headline_scores(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> dict[str, float]:
    """Accuracy and macro F1 over all ``num_classes`` labels (absent ones count as F1 0)."""
    labels = list(range(num_classes))
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(
            f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
        ),
    }
