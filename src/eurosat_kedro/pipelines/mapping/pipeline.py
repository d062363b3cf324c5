"""Wiring of the mapping pipeline."""

from kedro.pipeline import Node, Pipeline

from .nodes import (
    choose_stretch,
    classify_scene,
    describe_landuse_map,
    measure_areas,
    plot_landuse_map,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                choose_stretch,
                [
                    "mapping_scene",
                    "params:mapping.stretch",
                    "params:mapping.offset",
                    "params:mapping.preview_size",
                ],
                "scene_stretch",
                name="choose_stretch",
            ),
            Node(
                classify_scene,
                ["mapping_scene", "mapping_model", "scene_stretch", "params:mapping"],
                ["landuse_map", "landuse_confidence"],
                name="classify_scene",
            ),
            Node(measure_areas, "landuse_map", "landuse_areas", name="measure_areas"),
            Node(
                describe_landuse_map,
                ["landuse_map", "mapping_scene", "mapping_model"],
                "landuse_map_stac",
                name="describe_landuse_map",
            ),
            Node(
                plot_landuse_map,
                [
                    "mapping_scene",
                    "scene_stretch",
                    "landuse_map",
                    "landuse_areas",
                    "params:mapping.preview_size",
                ],
                "landuse_map_figure",
                name="plot_landuse_map",
            ),
        ],
        tags="mapping",
    )
