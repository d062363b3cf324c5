"""Wiring of the deployment pipeline."""

from kedro.pipeline import Node, Pipeline

from .nodes import build_serving_model, check_onnx_parity, export_onnx


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(export_onnx,
                 ["trained_model", "params:deployment.onnx_opset", "params:model.tta"],
                 "onnx_model", name="export_onnx"),
            Node(check_onnx_parity,
                 ["onnx_model", "trained_model", "test_arrays", "params:deployment.parity_images",
                  "params:deployment.parity_tolerance", "params:model.tta"],
                 "onnx_parity", name="check_onnx_parity"),
            Node(build_serving_model,
                 ["onnx_model", "classes", "test_arrays", "params:deployment.topk",
                  "params:deployment.allowed_roots"],
                 "mlflow_model", name="package_mlflow_model"),
        ],
        tags="deployment",
    )
