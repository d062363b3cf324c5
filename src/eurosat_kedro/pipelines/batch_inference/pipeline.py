"""Wiring of the batch_inference pipeline; its nodes are tagged ``spark``, which starts the
Spark session of conf/<env>/spark.yml before the run."""

from kedro.pipeline import Node, Pipeline

from eurosat_kedro.spark import SPARK_TAG

from .nodes import predict_image_files, summarise_predictions


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                predict_image_files,
                [
                    "batch_image_files",
                    "batch_inference_model",
                    "params:batch_inference.partitions",
                ],
                "batch_predictions",
                name="predict_image_files",
            ),
            Node(
                summarise_predictions,
                "batch_predictions",
                ["batch_inference_report", "batch_inference_metrics"],
                name="summarise_predictions",
            ),
        ],
        tags=["batch_inference", SPARK_TAG],
    )
