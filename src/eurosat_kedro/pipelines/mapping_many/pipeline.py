"""Wiring of the mapping_many pipeline. Its nodes are not tagged ``spark``: the Spark session
starts only when ``mapping.engine`` is ``spark``."""

from kedro.pipeline import Node, Pipeline

from .nodes import describe_maps_collection, map_products, mosaic_maps, report_maps


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                map_products,
                ["mapping_products", "mapping_model", "landuse_maps_folder", "params:mapping"],
                "landuse_map_rows",
                name="map_products",
            ),
            Node(
                report_maps,
                "landuse_map_rows",
                ["landuse_maps_report", "landuse_maps_summary"],
                name="report_maps",
            ),
            Node(
                describe_maps_collection,
                "landuse_map_rows",
                "landuse_maps_collection",
                name="describe_maps_collection",
            ),
            Node(mosaic_maps, "landuse_map_rows", "landuse_maps_mosaic", name="mosaic_maps"),
        ],
        tags="mapping_many",
    )
