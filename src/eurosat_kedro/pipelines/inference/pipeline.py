"""Wiring of the inference pipeline."""

from kedro.pipeline import Node, Pipeline

from .nodes import list_images, predict_images


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                list_images, "params:inference.image_path", "inference_inputs", name="list_images"
            ),
            Node(
                predict_images,
                ["inference_model", "inference_inputs", "params:inference.topk"],
                ["inference_predictions", "inference_summary"],
                name="predict_images",
            ),
        ],
        tags="inference",
    )
