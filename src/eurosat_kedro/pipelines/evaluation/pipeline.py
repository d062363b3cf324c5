"""Wiring of the evaluation pipeline."""

from kedro.pipeline import Node, Pipeline

from .nodes import (
    compute_metrics,
    log_test_data,
    plot_confusion_matrix,
    plot_misclassified,
    plot_training_curves,
    predict_test_split,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                predict_test_split,
                [
                    "trained_model",
                    "test_arrays",
                    "params:evaluation.batch_size",
                    "params:evaluation.tta",
                ],
                "test_predictions",
                name="predict_test_split",
            ),
            Node(
                compute_metrics,
                ["test_predictions", "classes"],
                ["metrics", "test_metrics"],
                name="compute_metrics",
            ),
            Node(
                plot_training_curves,
                "training_history",
                ["loss_curves_plot", "val_acc_plot"],
                name="plot_training_curves",
            ),
            Node(
                plot_confusion_matrix,
                "metrics",
                "confusion_matrix_plot",
                name="plot_confusion_matrix",
            ),
            Node(
                plot_misclassified,
                [
                    "test_predictions",
                    "test_arrays",
                    "classes",
                    "params:evaluation.misclassified_grid_size",
                ],
                "misclassified_plot",
                name="plot_misclassified",
            ),
            Node(log_test_data, ["test_arrays", "data_report"], None, name="log_test_data"),
        ],
        tags="evaluation",
    )
