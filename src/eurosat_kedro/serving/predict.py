"""Turn logits into what users get: probabilities, the predicted class and the top k."""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, numerically stable, float64."""
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def describe(probabilities: np.ndarray, classes: list[str], k: int) -> list[dict]:
    """Per row: ``predicted_class``, ``probabilities`` (class -> p) and ``topk``."""
    k = max(1, min(k, len(classes)))
    out = []
    for row in probabilities:
        order = np.argsort(-row, kind="stable")[:k]
        out.append(
            {
                "predicted_class": classes[int(order[0])],
                "probabilities": {name: float(p) for name, p in zip(classes, row, strict=True)},
                "topk": [{"class": classes[int(i)], "probability": float(row[i])} for i in order],
            }
        )
    return out
