"""Nodes of the mapping pipeline; the raster work is in eurosat_kedro.mapping."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from eurosat_kedro.datasets.served_model_dataset import ServedModel
from eurosat_kedro.mapping import (
    CLASS_NODATA,
    NON_CLASS_VALUES,
    GeoGrid,
    Scene,
    WindowGrid,
    choose_limits,
    class_areas,
    class_colours,
    classify_windows,
    map_figure,
    resolve_offset,
    resolved_type,
    to_uint8,
)
from eurosat_kedro.mapping.stac import map_item
from eurosat_kedro.serving.classifier import OnnxClassifier

logger = logging.getLogger(__name__)


def choose_stretch(mapping_scene: Scene, stretch: dict, offset_setting, preview_size: int) -> dict:
    """The stretch of the scene's values to EuroSAT's bytes: EuroSAT's recipe after the
    product's offset (``mapping.offset``: auto reads the product metadata or the acquisition
    date) for Sentinel-2, ``none`` for uint8 RGB; percentiles and reflectance (0-1) are
    recognised from a decimated read."""
    kind = resolved_type(stretch, mapping_scene.dtype)
    files = [file for file, _ in mapping_scene.bands]
    offset = (
        resolve_offset(offset_setting, mapping_scene.product, files) if kind == "eurosat" else None
    )
    sample = valid = None
    if kind == "percentile" or (kind == "eurosat" and mapping_scene.dtype.startswith("float")):
        with mapping_scene.reader() as reader:
            sample, valid = reader.preview(preview_size)
    product = mapping_scene.product
    if kind == "eurosat" and product is not None and product.level == "L2A":
        logger.info(
            "%s is Level-2A (surface reflectance); EuroSAT was made from Level-1C (top of "
            "atmosphere), so the scene looks darker, most in blue, than the training tiles",
            mapping_scene.name,
        )
    limits = choose_limits(stretch, mapping_scene.dtype, sample, valid, offset)
    logger.info(
        "%s (%s, %dx%d px): stretch %s",
        mapping_scene.name,
        mapping_scene.dtype,
        mapping_scene.width,
        mapping_scene.height,
        limits,
    )
    return limits


def resolve_min_confidence(setting, model_threshold: float) -> float | None:
    """``mapping.min_confidence``: ``model`` takes the served model's own "unknown" threshold
    (fitted on the validation split; None when it has none), null turns uncertain cells off,
    a number is used as it is."""
    if setting == "model":
        return model_threshold or None
    if setting is None:
        return None
    try:
        value = float(setting)
    except (TypeError, ValueError):
        raise ValueError(
            f"mapping.min_confidence must be model, null or a probability, got {setting!r}"
        ) from None
    if not 0 <= value <= 1:
        raise ValueError(f"mapping.min_confidence must be in [0, 1], got {value}")
    return value


def model_properties(model: ServedModel) -> dict:
    """The served model as a map's STAC item (``eurosat:`` properties) and GeoTIFF tags name
    it: its URI and precision, then what is known of its registered version, run and test
    accuracy with its 95% interval; unknown values are left out. The keys are those of
    ``mapping.grid.MODEL_TAGS``."""
    provenance = model.provenance
    ci = provenance.test_accuracy_ci
    known = {
        "registered_model": provenance.registered_model,
        "model_version": provenance.version,
        "model_run_id": provenance.run_id,
        "model_test_accuracy": provenance.test_accuracy,
        "model_test_accuracy_ci": None if ci is None else list(ci),
    }
    return {
        "model_uri": str(model.model_uri),
        "precision": model.precision,
        **{key: value for key, value in known.items() if value is not None},
    }


def classify_scene(
    mapping_scene: Scene,
    mapping_model: ServedModel,
    scene_stretch: dict,
    mapping: dict,
    classifier: OnnxClassifier | None = None,
) -> tuple[GeoGrid, GeoGrid]:
    """The class map (uint8 ids, nodata 255) and the confidence map (float32, nodata NaN),
    one pixel per window, on the scene's CRS. ``classifier``: ``mapping_model`` already
    opened (mapping_many opens it once for all the products of a Spark task)."""
    classes = list(mapping_model.classes)
    stride, batch_size = int(mapping["stride"]), int(mapping["batch_size"])
    logger.info(
        "Mapping %s with %s (%s), stride %d",
        mapping_scene.name,
        mapping_model.model_uri,
        mapping_model.precision,
        stride,
    )
    classifier = classifier or OnnxClassifier(mapping_model.onnx_model, classes)
    min_confidence = resolve_min_confidence(
        mapping.get("min_confidence"), classifier.unknown_threshold
    )
    scene = mapping_scene
    if scene.mask is not None:
        scene = replace(scene, mask=replace(scene.mask, masked_values=tuple(mapping["scl_masked"])))
        logger.info("Masking %s with %s", scene.name, scene.mask.file)
    ids, confidence = classify_windows(
        scene,
        lambda tiles: classifier.logits(tiles, batch_size),
        scene_stretch,
        stride,
        batch_size,
        float(mapping["max_nodata_fraction"]),
        float(mapping["max_masked_fraction"]),
        min_confidence,
    )
    grid = WindowGrid(mapping_scene.width, mapping_scene.height, stride)
    transform = grid.map_transform(mapping_scene.transform)
    tags = {
        "scene": mapping_scene.name,
        **{key: str(value) for key, value in model_properties(mapping_model).items()},
        "stride": str(stride),
        "window": str(grid.size),
        "stretch": json.dumps(scene_stretch),
        "mask": scene.mask.file if scene.mask else "",
        "min_confidence": str(min_confidence),
        **{f"value_{name}": str(value) for name, value in NON_CLASS_VALUES.items()},
    }
    logger.info("%d of %d windows classified", int((ids != CLASS_NODATA).sum()), ids.size)
    class_map = GeoGrid(
        ids,
        transform,
        mapping_scene.crs,
        CLASS_NODATA,
        "land-use class id: "
        + ", ".join(f"{i}={c}" for i, c in enumerate(classes))
        + ", "
        + ", ".join(f"{value}={name}" for name, value in NON_CLASS_VALUES.items()),
        classes,
        class_colours(classes),
        tags,
    )
    return class_map, GeoGrid(
        confidence, transform, mapping_scene.crs, np.nan, "top-class probability", tags=tags
    )


def measure_areas(landuse_map: GeoGrid) -> pd.DataFrame:
    """Windows, pixels, km2 and share per class."""
    areas = class_areas(landuse_map)
    logger.info(
        "Land use of %s:\n%s",
        landuse_map.tags.get("scene"),
        areas[areas["windows"] > 0].to_string(index=False),
    )
    return areas


def plot_landuse_map(
    mapping_scene: Scene,
    scene_stretch: dict,
    landuse_map: GeoGrid,
    landuse_areas: pd.DataFrame,
    preview_size: int,
):
    """The scene's RGB preview beside the coloured map, with a legend of class shares."""
    with mapping_scene.reader() as reader:
        values, valid = reader.preview(preview_size)
    preview = to_uint8(values, scene_stretch)
    preview[~valid] = 0
    shares = dict(zip(landuse_areas["class"], landuse_areas["share"], strict=True))
    scene_name = Path(mapping_scene.source or mapping_scene.name).name
    title = (
        f"{scene_name} - {landuse_map.tags.get('model_uri')} - stride "
        f"{landuse_map.tags.get('stride')} px"
    )
    return map_figure(
        preview,
        mapping_scene.transform,
        (mapping_scene.width, mapping_scene.height),
        landuse_map,
        shares,
        title,
    )


def describe_landuse_map(
    landuse_map: GeoGrid, mapping_scene: Scene, mapping_model: ServedModel
) -> dict:
    """The STAC item of the map (``mapping.stac``): footprint, acquisition date, classes with
    the masked / uncertain / nodata values, the source product and the model (its URI,
    version and test accuracy: ``model_properties``)."""
    files = [file for file, _ in mapping_scene.bands]  # their names carry the date, if any
    source = mapping_scene.source or mapping_scene.name
    return map_item(landuse_map, source, model_properties(mapping_model), files=files).to_dict()
