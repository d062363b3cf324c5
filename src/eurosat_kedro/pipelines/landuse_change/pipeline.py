"""Wiring of the landuse_change pipeline."""

from kedro.pipeline import Node, Pipeline

from .nodes import (
    align_dates,
    compare_dates,
    count_transitions,
    describe_landuse_change,
    map_dates,
    plot_landuse_change,
    report_change,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                map_dates,
                ["change_before", "change_after", "mapping_model", "params:mapping"],
                ["before_landuse", "after_landuse"],
                name="map_dates",
            ),
            Node(
                align_dates,
                ["before_landuse", "after_landuse"],
                "aligned_after_landuse",
                name="align_dates",
            ),
            Node(
                compare_dates,
                ["before_landuse", "aligned_after_landuse", "params:change"],
                ["landuse_change", "landuse_change_confidence"],
                name="compare_dates",
            ),
            Node(
                count_transitions,
                ["landuse_change", "before_landuse"],
                "landuse_transitions",
                name="count_transitions",
            ),
            Node(
                report_change,
                ["before_landuse", "aligned_after_landuse", "landuse_change", "params:change"],
                "landuse_change_report",
                name="report_change",
            ),
            Node(
                describe_landuse_change,
                ["landuse_change", "before_landuse", "after_landuse"],
                "landuse_change_stac",
                name="describe_landuse_change",
            ),
            Node(
                plot_landuse_change,
                ["before_landuse", "aligned_after_landuse", "landuse_change"],
                "landuse_change_figure",
                name="plot_landuse_change",
            ),
        ],
        tags="landuse_change",
    )
