"""Evaluation nodes against hand-computed values; every plot is drawn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from eurosat_kedro.pipelines.evaluation.nodes import (
    compute_metrics,
    plot_confusion_matrix,
    plot_misclassified,
    plot_training_curves,
)
from eurosat_kedro.stats import wilson_interval

CLASSES = ["A", "B", "C"]
# true:      A A A B B C
# predicted: A A B B C C
PREDICTIONS = pd.DataFrame({"label": [0, 0, 0, 1, 1, 2], "predicted": [0, 0, 1, 1, 2, 2]})


def test_metrics_match_hand_computed_values():
    metrics, mlflow_metrics = compute_metrics(PREDICTIONS, CLASSES)
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    assert metrics["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    # A: P=2/2 R=2/3 F1=0.8; B: P=1/2 R=1/2 F1=0.5; C: P=1/2 R=1/1 F1=2/3
    per_class_a = {key: metrics["per_class"]["A"][key] for key in ("precision", "recall", "f1")}
    assert per_class_a == pytest.approx({"precision": 1.0, "recall": 2 / 3, "f1": 0.8})
    assert metrics["per_class"]["A"]["support"] == 3
    assert metrics["per_class"]["C"]["f1"] == pytest.approx(2 / 3)
    assert metrics["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert metrics["classes"] == CLASSES
    assert mlflow_metrics["accuracy"] == {"value": pytest.approx(4 / 6), "step": 0}
    assert mlflow_metrics["f1.B"]["value"] == pytest.approx(0.5)


def test_metrics_give_95_percent_intervals_for_the_headline_figures_and_recall():
    metrics, mlflow_metrics = compute_metrics(PREDICTIONS, CLASSES)
    assert (metrics["accuracy_ci_low"], metrics["accuracy_ci_high"]) == wilson_interval(4, 6)
    assert metrics["macro_f1_ci_low"] <= metrics["macro_f1"] <= metrics["macro_f1_ci_high"]
    recall_a = metrics["per_class"]["A"]
    assert (recall_a["recall_ci_low"], recall_a["recall_ci_high"]) == wilson_interval(2, 3)
    assert metrics["intervals"]["accuracy"] == "Wilson score interval"
    for key in ("accuracy_ci_low", "accuracy_ci_high", "macro_f1_ci_low", "macro_f1_ci_high"):
        assert mlflow_metrics[key] == {"value": metrics[key], "step": 0}
    assert mlflow_metrics["recall.A.ci_high"]["value"] == recall_a["recall_ci_high"]
    assert mlflow_metrics["recall.C"]["value"] == 1.0


def test_every_plot_is_drawn(tmp_path):
    history = [
        {"epoch": e, "train_loss": 1 / e, "val_loss": 1.1 / e, "val_accuracy": 0.5 + e / 10}
        for e in (1, 2, 3)
    ]
    metrics, _ = compute_metrics(PREDICTIONS, CLASSES)
    images = np.zeros((6, 64, 64, 3), dtype=np.uint8)
    figures = [
        *plot_training_curves(history),
        plot_confusion_matrix(metrics),
        plot_misclassified(PREDICTIONS, {"images": images}, CLASSES, 10),
    ]
    for i, figure in enumerate(figures):
        assert isinstance(figure, Figure)
        figure.savefig(tmp_path / f"{i}.png")
        assert (tmp_path / f"{i}.png").stat().st_size > 1000
    assert "2 of 2 shown" in figures[-1]._suptitle.get_text()
    ticks = [t.get_text() for t in figures[2].axes[0].get_xticklabels()]
    assert ticks == CLASSES
