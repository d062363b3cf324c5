"""Turn logits into what users get: probabilities, the predicted class and the top k."""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, numerically stable, float64."""
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def describe(probabilities: np.ndarray, classes: list[str], k: int) -> dict[str, list]:
    """Per row, as columns: ``predicted_class``, ``probability`` (of that class),
    ``probabilities`` (class -> p) and ``topk`` (the ``k`` best, ties in class order); plain
    Python values, converted from NumPy once for the whole batch."""
    k = max(1, min(k, len(classes)))
    orders = np.argsort(-probabilities, axis=1, kind="stable")[:, :k].tolist()
    rows = probabilities.tolist()
    return {
        "predicted_class": [classes[order[0]] for order in orders],
        "probability": [row[order[0]] for row, order in zip(rows, orders, strict=True)],
        "probabilities": [dict(zip(classes, row, strict=True)) for row in rows],
        "topk": [
            [{"class": classes[i], "probability": row[i]} for i in order]
            for row, order in zip(rows, orders, strict=True)
        ],
    }
