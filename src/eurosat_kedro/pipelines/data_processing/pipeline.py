"""Wiring of the data_processing pipeline."""

from kedro.pipeline import Node, Pipeline

from .nodes import (
    build_data_report,
    build_split_arrays,
    check_archive,
    describe_archive_source,
    index_image_folder,
    split_images,
    validate_classes,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(describe_archive_source, ["params:data.archive_url", "params:data.archive_sha256"],
                 "raw_archive", name="download_archive"),
            Node(check_archive, "raw_archive", "raw_images", name="extract_archive"),
            Node(validate_classes, "params:data.classes", "classes", name="record_classes"),
            Node(index_image_folder, ["raw_images", "classes"], ["image_index", "decoded_images"],
                 name="index_images"),
            Node(split_images, ["image_index", "params:data.split.fractions",
                                "params:data.split.seed"], "image_splits", name="split_images"),
            Node(build_split_arrays, ["image_splits", "decoded_images"],
                 ["train_arrays", "val_arrays", "test_arrays"], name="cache_split_arrays"),
            Node(build_data_report, ["image_splits", "classes"], "data_report",
                 name="report_data"),
        ],
        tags="data_processing",
    )
