"""What happens to each product, in this process (``mapping.engine: local``) or in a Spark task
(``spark``): the mapping pipeline's own nodes map it, its folder is written in one rename, and
a row says how it went. A product that fails is its row's error, never the others'."""

from __future__ import annotations

import json
import logging
import resource
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import matplotlib.pyplot as plt

from eurosat_kedro.datasets.geotiff_dataset import GeoTiffDataset
from eurosat_kedro.datasets.served_model_dataset import ServedModel
from eurosat_kedro.files import atomic_path
from eurosat_kedro.mapping import CLASS_NODATA, GeoGrid, open_scene
from eurosat_kedro.mapping.products import MapFolders, ProductRef
from eurosat_kedro.mapping.stac import ASSETS
from eurosat_kedro.pipelines.mapping.nodes import (
    choose_stretch,
    classify_scene,
    describe_landuse_map,
    measure_areas,
    plot_landuse_map,
)
from eurosat_kedro.serving.classifier import OnnxClassifier
from eurosat_kedro.serving.providers import serving_threads

logger = logging.getLogger(__name__)

OK, FAILED, SKIPPED = "ok", "failed", "skipped"
ITEM_FILE = "landuse_map.stac.json"  # the STAC item, beside the files of stac.ASSETS
PREVIEW_DPI = 110  # as the mapping pipeline's landuse_map.png
# one row per product; ``item`` (the STAC item, for the collection and the mosaic) is not
# part of the report
REPORT_COLUMNS = ["id", "status", "error", "scene", "folder", "landuse_map", "stac_item",
                  "windows", "classified", "seconds", "cpu_seconds", "peak_rss_mib"]  # fmt: skip


@dataclass(frozen=True)
class MappingJob:
    """What every task needs besides its products: the model, ``params:mapping`` and where
    the maps go."""

    model: ServedModel
    mapping: dict
    folders: MapFolders


def _clock() -> tuple[float, float]:
    """Wall seconds and this process's CPU seconds (all its threads: ONNX Runtime's too)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return time.perf_counter(), usage.ru_utime + usage.ru_stime


def _row(
    product: ProductRef, folder: Path, status: str, started: tuple[float, float], **values
) -> dict:
    row = dict.fromkeys(REPORT_COLUMNS) | {"id": product.id, "scene": product.scene}
    row |= {"status": status, "folder": str(folder), **values}
    if status != FAILED:
        row |= {"landuse_map": str(folder / ASSETS["landuse_map"][0])}
        row |= {"stac_item": str(folder / ITEM_FILE)}
    (wall, cpu), (wall_0, cpu_0) = _clock(), started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB
    return row | {
        "seconds": round(wall - wall_0, 3),
        "cpu_seconds": round(cpu - cpu_0, 3),
        "peak_rss_mib": round(peak_mib, 1),
    }


def _counts(landuse_map: GeoGrid) -> dict:
    return {
        "windows": int(landuse_map.values.size),
        "classified": int((landuse_map.values != CLASS_NODATA).sum()),
    }


def _map_into(
    folder: Path, product: ProductRef, job: MappingJob, classifier: OnnxClassifier
) -> tuple[dict, GeoGrid]:
    """The mapping pipeline's nodes, in its order, on one product; its files written to a
    temporary folder that takes ``folder``'s place when all are written."""
    mapping = job.mapping
    scene = open_scene(product.scene, product.bands)
    stretch = choose_stretch(scene, mapping["stretch"], mapping["offset"], mapping["preview_size"])
    landuse_map, confidence = classify_scene(scene, job.model, stretch, mapping, classifier)
    areas = measure_areas(landuse_map)
    item = describe_landuse_map(landuse_map, scene, job.model)
    item["id"] = f"landuse-{product.id}"  # unique in the collection, as the folder's name
    figure = plot_landuse_map(scene, stretch, landuse_map, areas, mapping["preview_size"])
    try:
        files = {key: name for key, (name, _, _) in ASSETS.items()}
        with atomic_path(folder) as tmp:
            tmp.mkdir()
            GeoTiffDataset(str(tmp / files["landuse_map"])).save(landuse_map)
            GeoTiffDataset(str(tmp / files["landuse_confidence"])).save(confidence)
            areas.to_csv(tmp / files["landuse_areas"], index=False)
            figure.savefig(tmp / files["preview"], dpi=PREVIEW_DPI, bbox_inches="tight")
            (tmp / ITEM_FILE).write_text(json.dumps(item, indent=2))
    finally:
        plt.close(figure)
    return item, landuse_map


def _done(folder: Path) -> tuple[dict, GeoGrid] | None:
    """The item and map of a product mapped before, None when it has no complete folder."""
    if not (folder / ITEM_FILE).is_file():
        return None
    try:
        item = json.loads((folder / ITEM_FILE).read_text())
        return item, GeoTiffDataset(str(folder / ASSETS["landuse_map"][0])).load()
    except Exception as error:  # noqa: BLE001 - a folder that cannot be read is mapped again
        logger.warning("%s cannot be read (%s): mapping it again", folder, error)
        return None


def map_product(
    product: ProductRef, job: MappingJob, classifier: Callable[[], OnnxClassifier]
) -> dict:
    """Map one product into its folder, or skip it when its folder is complete (unless
    ``mapping.overwrite``); a row of ``REPORT_COLUMNS`` and its ``item``, whatever happens."""
    started = _clock()
    folder = job.folders.of(product)
    done = None if job.mapping.get("overwrite") else _done(folder)
    if done is not None:
        return _row(product, folder, SKIPPED, started, item=done[0], **_counts(done[1]))
    try:
        item, landuse_map = _map_into(folder, product, job, classifier())
    except Exception as error:  # noqa: BLE001 - one bad product never stops the others
        logger.warning("Mapping %s failed: %s", product.scene, error)
        return _row(product, folder, FAILED, started, error=f"{type(error).__name__}: {error}")
    logger.info("Mapped %s into %s", product.scene, folder)
    return _row(product, folder, OK, started, item=item, **_counts(landuse_map))


def map_here(products: Iterable[ProductRef], job: MappingJob) -> Iterator[dict]:
    """The rows of ``products`` mapped one after another in this process. The model is opened
    once, at the first product to map, with ``serving_threads()`` ONNX Runtime threads
    (``EUROSAT_ORT_THREADS``, which conf/<env>/spark.yml sets to 1 per Spark task; else every
    core)."""
    opened: list[OnnxClassifier] = []

    def classifier() -> OnnxClassifier:
        if not opened:
            model = job.model
            opened.append(
                OnnxClassifier(model.onnx_model, list(model.classes), threads=serving_threads())
            )
        return opened[0]

    for product in products:
        yield map_product(product, job, classifier)


def _map_partition(shared_job, products: Iterator[ProductRef]) -> Iterator[dict]:
    """One Spark task: its products mapped with the broadcast job."""
    return map_here(products, shared_job.value)


def map_on_spark(products: list[ProductRef], job: MappingJob, partitions: int | None) -> list[dict]:
    """The rows of ``products`` mapped by the executors of the active Spark session (else the
    one of conf/<env>/spark.yml): the model and parameters are broadcast, each of
    ``partitions`` tasks (default: one per product) maps its products with ``map_here``."""
    from eurosat_kedro.spark import get_spark

    context = get_spark().sparkContext
    shared = context.broadcast(job)
    try:
        tasks = context.parallelize(products, max(1, int(partitions or len(products))))
        return tasks.mapPartitions(partial(_map_partition, shared)).collect()
    finally:
        shared.destroy()
