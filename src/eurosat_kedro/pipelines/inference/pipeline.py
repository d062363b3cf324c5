"""Wiring of the inference pipeline."""

from kedro.pipeline import Node, Pipeline

from .nodes import predict_images


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                predict_images,
                ["inference_model", "inference_images", "params:inference.topk"],
                ["inference_predictions", "inference_summary"],
                name="predict_images",
            ),
        ],
        tags="inference",
    )
