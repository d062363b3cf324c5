"""Wiring of the deployment pipeline."""

from kedro.pipeline import Node, Pipeline

from .nodes import (
    check_onnx_parity,
    compare_int8,
    export_onnx,
    fingerprint_test_split,
    log_mlflow_model,
    quantize_onnx_int8,
    register_model,
    score_served_model,
    select_serving_model,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                export_onnx,
                [
                    "trained_model",
                    "calibration",
                    "params:deployment.onnx_opset",
                    "params:evaluation.tta",
                    "params:deployment.full_map_convs_as_matmul",
                ],
                "onnx_model",
                name="export_onnx",
            ),
            Node(
                check_onnx_parity,
                [
                    "onnx_model",
                    "trained_model",
                    "test_arrays",
                    "params:deployment.parity_images",
                    "params:deployment.parity_tolerance",
                    "params:evaluation.tta",
                ],
                "onnx_parity",
                name="check_onnx_parity",
            ),
            Node(
                quantize_onnx_int8,
                ["onnx_model", "val_arrays", "params:deployment.int8.calibration_images"],
                "onnx_model_int8",
                name="quantize_onnx_int8",
            ),
            Node(
                compare_int8,
                ["onnx_model", "onnx_model_int8", "test_arrays", "classes"],
                [
                    "int8_report",
                    "int8_metrics",
                    "int8_accuracy_drop",
                    "onnx_test_predictions",
                    "onnx_test_scores",
                ],
                name="compare_int8",
            ),
            Node(
                select_serving_model,
                [
                    "onnx_model",
                    "onnx_model_int8",
                    "int8_accuracy_drop",
                    "params:deployment.serve_precision",
                    "params:deployment.int8.max_accuracy_drop",
                ],
                "serving_onnx_model",
                name="select_serving_model",
            ),
            Node(
                score_served_model,
                ["serving_onnx_model", "onnx_test_scores"],
                "served_test_scores",
                name="score_served_model",
            ),
            Node(
                log_mlflow_model,
                [
                    "serving_onnx_model",
                    "classes",
                    "test_arrays",
                    "served_test_scores",
                    "params:deployment.topk",
                    "params:deployment.allowed_roots",
                ],
                ["mlflow_model", "logged_model"],
                name="log_mlflow_model",
            ),
            Node(
                fingerprint_test_split,
                "test_arrays",
                "test_split_fingerprint",
                name="fingerprint_test_split",
            ),
            Node(
                register_model,
                [
                    "logged_model",
                    "serving_onnx_model",
                    "served_test_scores",
                    "onnx_test_predictions",
                    "test_split_fingerprint",
                    "params:deployment.registry",
                ],
                "registry_report",
                name="register_model",
            ),
        ],
        tags="deployment",
    )
