"""Wiring of the data_processing pipeline.

It starts from ``raw_images``, the catalog dataset that fetches (DVC first, then
``data.archive_url``), verifies and extracts the archive on first load.
"""

from kedro.pipeline import Node, Pipeline

from .nodes import cache_split_arrays, index_images, report_data, split_images, validate_classes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(validate_classes, "params:data.classes", "classes", name="validate_classes"),
            Node(
                index_images,
                ["raw_images", "classes"],
                ["image_index", "decoded_images"],
                name="index_images",
            ),
            Node(
                split_images,
                ["image_index", "params:data.split.fractions", "params:data.split.seed"],
                "image_splits",
                name="split_images",
            ),
            Node(
                cache_split_arrays,
                ["image_splits", "decoded_images"],
                ["train_arrays", "val_arrays", "test_arrays"],
                name="cache_split_arrays",
            ),
            Node(
                report_data,
                ["image_splits", "classes", "archive_source"],
                "data_report",
                name="report_data",
            ),
        ],
        tags="data_processing",
    )
