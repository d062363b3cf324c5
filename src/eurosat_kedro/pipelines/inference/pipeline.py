"""Wiring of the inference pipeline."""

from kedro.pipeline import Node, Pipeline

from .nodes import choose_model, list_images, predict_images


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(list_images, "params:inference.image_path", "inference_inputs",
                 name="list_images"),
            Node(choose_model, ["onnx_model", "onnx_model_int8", "params:inference.precision"],
                 "inference_onnx_model", name="choose_model"),
            Node(predict_images,
                 ["inference_onnx_model", "classes", "inference_inputs", "params:inference.topk"],
                 ["inference_predictions", "inference_summary"], name="predict_images"),
        ],
        tags="inference",
    )
