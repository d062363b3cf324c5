"""Nodes of the landuse_change pipeline; the raster work is in eurosat_kedro.mapping.change."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from eurosat_kedro.datasets.served_model_dataset import ServedModel
from eurosat_kedro.mapping import GeoGrid, Scene
from eurosat_kedro.mapping.change import (
    LandUseMap,
    align,
    change_map,
    change_report,
    check_comparable,
    check_min_confidence,
    decode,
    transition_matrix,
    transitions,
)
from eurosat_kedro.mapping.render import change_figure
from eurosat_kedro.mapping.stac import change_item
from eurosat_kedro.pipelines.mapping.nodes import choose_stretch, classify_scene

logger = logging.getLogger(__name__)


def _landuse(source: LandUseMap | Scene, model: ServedModel, mapping: dict) -> LandUseMap:
    if isinstance(source, LandUseMap):
        logger.info("%s: a land-use map, compared as it is", source.source)
        return source
    stretch = choose_stretch(source, mapping["stretch"], mapping["offset"], mapping["preview_size"])
    class_map, confidence = classify_scene(source, model, stretch, mapping)
    return LandUseMap(class_map, confidence, source.source or source.name)


def map_dates(
    change_before: LandUseMap | Scene,
    change_after: LandUseMap | Scene,
    mapping_model: ServedModel,
    mapping: dict,
) -> tuple[LandUseMap, LandUseMap]:
    """Each date as a land-use map: a map as given, a scene mapped the way the mapping
    pipeline maps it (its choose_stretch and classify_scene, the ``mapping.*`` parameters)."""
    before = _landuse(change_before, mapping_model, mapping)
    return before, _landuse(change_after, mapping_model, mapping)


def align_dates(before_landuse: LandUseMap, after_landuse: LandUseMap) -> LandUseMap:
    """The later map on the earlier map's grid (nearest resampling when the grids differ)."""
    check_comparable(before_landuse, after_landuse)
    return align(after_landuse, before_landuse)


def compare_dates(
    before_landuse: LandUseMap, aligned_after_landuse: LandUseMap, change: dict
) -> tuple[GeoGrid, GeoGrid]:
    """The change code per cell and the lower of the two confidences."""
    min_confidence = check_min_confidence(change.get("min_confidence"))
    codes, confidence = change_map(before_landuse, aligned_after_landuse, min_confidence)
    compared, was, now = decode(codes.values, len(before_landuse.class_map.classes))
    logger.info(
        "%d of %d cells compared, %d changed",
        int(compared.sum()),
        codes.values.size,
        int((compared & (was != now)).sum()),
    )
    return codes, confidence


def count_transitions(landuse_change: GeoGrid, before_landuse: LandUseMap) -> pd.DataFrame:
    """Cells and km2 per (from, to) pair of classes, compared cells only."""
    table = transitions(landuse_change, list(before_landuse.class_map.classes))
    moved = table[(table["cells"] > 0) & (table["from_class"] != table["to_class"])]
    logger.info("Transitions:\n%s", moved.to_string(index=False) if len(moved) else "none")
    return table


def report_change(
    before_landuse: LandUseMap,
    aligned_after_landuse: LandUseMap,
    landuse_change: GeoGrid,
    change: dict,
) -> dict:
    """Cells compared, changed and not comparable by reason (per date too), area per cell."""
    min_confidence = check_min_confidence(change.get("min_confidence"))
    return change_report(before_landuse, aligned_after_landuse, landuse_change, min_confidence)


def describe_landuse_change(
    landuse_change: GeoGrid, before_landuse: LandUseMap, after_landuse: LandUseMap
) -> dict:
    """The STAC item of the change map: footprint, the period, the change codes, both dates."""
    dates = {
        key: [landuse.source, landuse.class_map.tags.get("scene", "")]
        for key, landuse in (("before", before_landuse), ("after", after_landuse))
    }
    return change_item(landuse_change, dates, list(before_landuse.class_map.classes)).to_dict()


def _label(source: str) -> str:
    path = Path(source)
    return f"{path.parent.name}/{path.name}" if path.parent.name else path.name


def plot_landuse_change(
    before_landuse: LandUseMap, aligned_after_landuse: LandUseMap, landuse_change: GeoGrid
):
    """Both maps side by side, the changed cells outlined, and the transition heatmap."""
    n_classes = len(before_landuse.class_map.classes)
    compared, was, now = decode(landuse_change.values, n_classes)
    before, after = before_landuse, aligned_after_landuse
    return change_figure(
        before.class_map,
        after.class_map,
        compared & (was != now),
        transition_matrix(landuse_change.values, n_classes),
        (f"before: {_label(before.source)}", f"after: {_label(after.source)}"),
        f"land-use change - {before.class_map.tags.get('model_uri', '')}",
    )
