"""Wiring of the evaluation pipeline."""

from kedro.pipeline import Node, Pipeline

from .nodes import (
    compare_with_teacher,
    compute_metrics,
    evaluate_robustness,
    fit_calibration,
    log_test_data,
    plot_confusion_matrix,
    plot_misclassified,
    plot_training_curves,
    predict_split_logits,
    predict_test_split,
    report_calibration,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                predict_split_logits,
                [
                    "trained_model",
                    "val_arrays",
                    "test_arrays",
                    "params:evaluation.batch_size",
                    "params:evaluation.tta",
                ],
                ["val_logits", "test_logits"],
                name="predict_split_logits",
            ),
            Node(
                fit_calibration,
                [
                    "val_logits",
                    "val_arrays",
                    "params:evaluation.tta",
                    "params:evaluation.calibration",
                ],
                "calibration",
                name="fit_calibration",
            ),
            Node(
                predict_test_split,
                ["test_logits", "test_arrays", "classes", "calibration"],
                "test_predictions",
                name="predict_test_split",
            ),
            Node(
                report_calibration,
                ["test_logits", "test_arrays", "calibration"],
                [
                    "calibration_report",
                    "calibration_metrics",
                    "reliability_plot",
                    "coverage_plot",
                ],
                name="report_calibration",
            ),
            Node(
                compute_metrics,
                ["test_predictions", "classes"],
                ["metrics", "test_metrics"],
                name="compute_metrics",
            ),
            Node(
                compare_with_teacher,
                [
                    "teacher_model",
                    "test_logits",
                    "test_arrays",
                    "params:evaluation.batch_size",
                    "params:evaluation.tta",
                ],
                ["teacher_comparison", "teacher_comparison_metrics"],
                name="compare_with_teacher",
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
            Node(
                evaluate_robustness,
                [
                    "trained_model",
                    "test_arrays",
                    "params:evaluation.batch_size",
                    "params:evaluation.tta",
                    "params:evaluation.robustness",
                ],
                ["robustness_report", "robustness_table", "robustness_metrics"],
                name="evaluate_robustness",
            ),
        ],
        tags="evaluation",
    )
