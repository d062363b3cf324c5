"""Models side by side on the same test images: accuracy and macro F1 with their 95%
intervals for each, and McNemar's exact test between every pair (the statistics the
evaluation and the champion gate use). One definition for the evaluation pipeline's
``compare_with_teacher`` and ``scripts/compare_models.py``."""

from __future__ import annotations

import itertools

import numpy as np

from eurosat_kedro.champion_gate import PairedComparison
from eurosat_kedro.metrics import headline_scores


def side_by_side(predicted: dict[str, np.ndarray], labels: np.ndarray, num_classes: int) -> dict:
    """``{"models": {name: scores}, "pairs": {"a vs b": {n01, n10, p_value}}}`` for the
    predicted classes of each named model (in order) against ``labels``. ``n01``: images only
    the first of a pair gets right; ``n10``: only the second."""
    labels = np.asarray(labels)
    models = {
        name: headline_scores(labels, classes, num_classes) for name, classes in predicted.items()
    }
    pairs = {}
    for first, second in itertools.combinations(predicted, 2):
        paired = PairedComparison.of(
            champion_right=np.asarray(predicted[first]) == labels,
            new_right=np.asarray(predicted[second]) == labels,
        )
        pairs[f"{first} vs {second}"] = {
            "n01": paired.n01,
            "n10": paired.n10,
            "p_value": paired.p_value,
        }
    return {"n_images": len(labels), "models": models, "pairs": pairs}
