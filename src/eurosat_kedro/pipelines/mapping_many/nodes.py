"""Nodes of the mapping_many pipeline: map the products (here or on Spark; ``tasks`` holds
what happens to each), report how each went, and join the maps into a STAC Collection and a
VRT mosaic per CRS."""

from __future__ import annotations

import logging

import pandas as pd

from eurosat_kedro.datasets.served_model_dataset import ServedModel
from eurosat_kedro.mapping.mosaic import CLASSES_FIELD, group_tiles, mosaic_vrt, tile_of
from eurosat_kedro.mapping.products import MapFolders, ProductRef
from eurosat_kedro.mapping.stac import ASSETS, maps_collection

from .tasks import (
    FAILED,
    ITEM_FILE,
    OK,
    REPORT_COLUMNS,
    SKIPPED,
    MappingJob,
    map_here,
    map_on_spark,
)

logger = logging.getLogger(__name__)

ENGINES = ("local", "spark")


def map_products(
    mapping_products: list[ProductRef],
    mapping_model: ServedModel,
    landuse_maps_folder: MapFolders,
    mapping: dict,
) -> list[dict]:
    """Each product mapped as the mapping pipeline maps ``mapping.scene``, into its folder of
    ``landuse_maps_folder``, by ``mapping.engine``: ``local`` (one after another here) or
    ``spark`` (over the executors). A row per product: ``tasks.REPORT_COLUMNS`` and its STAC
    item."""
    engine = mapping.get("engine", "local")
    if engine not in ENGINES:
        raise ValueError(f"mapping.engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    job = MappingJob(mapping_model, dict(mapping), landuse_maps_folder)
    logger.info(
        "Mapping %d products (engine %s) into %s",
        len(mapping_products),
        engine,
        landuse_maps_folder.root,
    )
    if engine == "spark":
        return map_on_spark(mapping_products, job, mapping.get("partitions"))
    return list(map_here(mapping_products, job))


def _mapped(rows: list[dict]) -> list[dict]:
    """The rows of the products that have a map (mapped now or before)."""
    return [row for row in rows if row["status"] != FAILED]


def report_maps(landuse_map_rows: list[dict]) -> tuple[pd.DataFrame, dict]:
    """The report (a row per product: status, error, output paths, windows, seconds, peak
    memory of the process that mapped it) and its summary: counts and the failures."""
    report = pd.DataFrame(landuse_map_rows, columns=REPORT_COLUMNS)
    counts = report["status"].value_counts()
    failed = report[report["status"] == FAILED]
    summary = {
        "n_products": len(report),
        **{f"n_{status}": int(counts.get(status, 0)) for status in (OK, SKIPPED, FAILED)},
        "failed": failed[["id", "scene", "error"]].to_dict("records"),
    }
    logger.info(
        "%d products: %d mapped, %d skipped (mapped before), %d failed%s",
        summary["n_products"],
        summary["n_ok"],
        summary["n_skipped"],
        summary["n_failed"],
        f" ({', '.join(failed['id'])}: see landuse_maps_report.csv)" if len(failed) else "",
    )
    return report, summary


def describe_maps_collection(landuse_map_rows: list[dict]) -> dict:
    """The STAC Collection of the maps (written beside their folders): a link to each item,
    the extent of all."""
    items = [(f"./{row['id']}/{ITEM_FILE}", row["item"]) for row in _mapped(landuse_map_rows)]
    collection = maps_collection(items)
    return collection.to_dict(include_self_link=False, transform_hrefs=False)


def mosaic_maps(landuse_map_rows: list[dict]) -> dict[str, str]:
    """One VRT per CRS (and pixel size) of the land-use maps, by name; a map without a CRS
    joins none."""
    tiles, classes = [], []
    for row in _mapped(landuse_map_rows):
        tile = tile_of(row["item"], f"{row['id']}/{ASSETS['landuse_map'][0]}")
        if tile is None:
            logger.warning("The map of %s has no CRS or a rotated grid: in no mosaic", row["id"])
            continue
        tiles.append(tile)
        classes = classes or row["item"]["assets"]["landuse_map"].get(CLASSES_FIELD, [])
    return {name: mosaic_vrt(members, classes) for name, members in group_tiles(tiles).items()}
