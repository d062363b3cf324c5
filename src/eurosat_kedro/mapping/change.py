"""Land-use change between two dates: both maps on one grid, a change code per cell, the
transitions between classes, and which cells could not be compared and why.

Change codes (uint8), one per cell of the earlier map's grid:

- ``from * 10 + to`` (0-99, never ``from == to``): the class changed from ``from`` to ``to``;
- ``100 + class`` (100-109): the same class on both dates;
- not comparable, by the first reason that applies: 255 nodata on either date (or outside
  it), 254 masked on either date, 253 uncertain on either date, 252 classified on both but
  less likely than ``change.min_confidence`` on one.

Plain Python on rasterio and NumPy, like the rest of ``eurosat_kedro.mapping``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from rasterio.transform import array_bounds
from rasterio.warp import Resampling, reproject, transform_bounds

from .grid import (
    CLASS_MASKED,
    CLASS_NODATA,
    CLASS_UNCERTAIN,
    MODEL_TAGS,
    GeoGrid,
    cell_area_km2,
)
from .render import class_colours

logger = logging.getLogger(__name__)

UNCHANGED = 100  # 100 + class: the same class on both dates
MAX_CLASSES = 10  # from * 10 + to is one code per pair only up to 10 classes
CHANGE_LOW_CONFIDENCE = 252
# the change map's values for cells not compared, in the order their reasons are checked
NOT_COMPARABLE = {
    "nodata": CLASS_NODATA,
    "masked": CLASS_MASKED,
    "uncertain": CLASS_UNCERTAIN,
    "low_confidence": CHANGE_LOW_CONFIDENCE,
}
_UNCHANGED_PALENESS = 0.6  # unchanged cells are drawn in their class's colour, this much paler


class ChangeError(ValueError):
    """Two dates that cannot be compared; the message names both and the fix."""


@dataclass(frozen=True)
class LandUseMap:
    """One date: its class map (uint8, as the mapping pipeline writes it) and confidence map
    (float32 top-class probability) on one grid, and what was given for it."""

    class_map: GeoGrid
    confidence: GeoGrid
    source: str  # the map file or the scene given as change.before / change.after

    def __post_init__(self):
        if not same_grid(self.class_map, self.confidence):
            raise ChangeError(
                f"the confidence map of {self.source} ({self.confidence.values.shape}, "
                f"{self.confidence.crs}) is not on the grid of its class map "
                f"({self.class_map.values.shape}, {self.class_map.crs}): give the "
                "landuse_confidence.tif written with that landuse_map.tif"
            )


def same_grid(a: GeoGrid, b: GeoGrid) -> bool:
    return (
        a.values.shape == b.values.shape
        and a.crs == b.crs
        and a.transform.almost_equals(b.transform)
    )


def describe_place(landuse: LandUseMap) -> str:
    """The source, CRS and bounds of a date, for messages."""
    grid = landuse.class_map
    bounds = ", ".join(f"{v:.1f}" for v in array_bounds(*grid.values.shape, grid.transform))
    return f"{landuse.source} ({grid.crs or 'no CRS'}, bounds {bounds})"


def check_comparable(before: LandUseMap, after: LandUseMap) -> None:
    """Both maps have the same classes (at most ``MAX_CLASSES``) and hold only class ids and
    the masked / uncertain / nodata values; a ChangeError naming the map otherwise. Maps of
    two models are compared, with a logged warning."""
    classes = before.class_map.classes
    if after.class_map.classes != classes:
        raise ChangeError(
            f"{before.source} has the classes {classes} and {after.source} "
            f"{after.class_map.classes}: compare maps made by models of the same classes"
        )
    if len(classes) > MAX_CLASSES:
        raise ChangeError(
            f"the maps have {len(classes)} classes; the change codes (from * 10 + to) hold "
            f"at most {MAX_CLASSES}"
        )
    models = [landuse.class_map.tags.get("model_uri") for landuse in (before, after)]
    if None not in models and models[0] != models[1]:
        logger.warning(
            "%s was mapped by %s and %s by %s: part of what changes may be the models "
            "disagreeing; map both dates with one model for a change map",
            before.source,
            models[0],
            after.source,
            models[1],
        )
    allowed = [*range(len(classes)), CLASS_UNCERTAIN, CLASS_MASKED, CLASS_NODATA]
    for landuse in (before, after):
        if (odd := np.setdiff1d(landuse.class_map.values, allowed)).size:
            raise ChangeError(
                f"{landuse.source} holds the values {odd[:8].tolist()}, neither class ids "
                f"0-{len(classes) - 1} nor {CLASS_UNCERTAIN}/{CLASS_MASKED}/{CLASS_NODATA}: "
                "give a landuse_map.tif of the mapping pipeline"
            )


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """Whether two (west, south, east, north) boxes share some area (touching is not)."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def align(after: LandUseMap, before: LandUseMap) -> LandUseMap:
    """``after`` on ``before``'s grid: as it is when the grids are the same, else resampled
    with nearest (classes stay classes; class and confidence alike) and a logged note. A
    ChangeError naming both when they do not overlap or one has no CRS."""
    reference, grid = before.class_map, after.class_map
    if same_grid(reference, grid):
        return after
    if reference.crs is None or grid.crs is None:
        raise ChangeError(
            f"{describe_place(after)} is not on the grid of {describe_place(before)} and "
            "without a CRS it cannot be brought onto it: georeference the scene (e.g. "
            "gdal_edit.py -a_srs) or give two maps on the same grid"
        )
    bounds = array_bounds(*grid.values.shape, grid.transform)
    if not _overlap(
        array_bounds(*reference.values.shape, reference.transform),
        transform_bounds(grid.crs, reference.crs, *bounds),
    ):
        raise ChangeError(
            f"{describe_place(after)} does not overlap {describe_place(before)}: give two "
            "dates of the same place"
        )
    logger.info(
        "%s is on another grid than %s: resampled onto the latter (nearest)",
        describe_place(after),
        describe_place(before),
    )
    return LandUseMap(
        _resample(grid, reference), _resample(after.confidence, reference), after.source
    )


def _resample(grid: GeoGrid, onto: GeoGrid) -> GeoGrid:
    values = np.full(onto.values.shape, grid.nodata, grid.values.dtype)
    reproject(
        grid.values,
        values,
        src_transform=grid.transform,
        src_crs=grid.crs,
        src_nodata=grid.nodata,
        dst_transform=onto.transform,
        dst_crs=onto.crs,
        dst_nodata=grid.nodata,
        resampling=Resampling.nearest,
    )
    origin = f"{grid.crs} {list(grid.transform)[:6]} {list(grid.values.shape)}"
    tags = {**grid.tags, "resampled_from": origin}
    return replace(grid, values=values, transform=onto.transform, crs=onto.crs, tags=tags)


def check_min_confidence(value) -> float | None:
    """``change.min_confidence``: null (off) or a probability."""
    if value is None:
        return None
    try:
        threshold = float(value)
    except (TypeError, ValueError):
        raise ChangeError(
            f"change.min_confidence must be null or a probability, got {value!r}"
        ) from None
    if not 0 <= threshold <= 1:
        raise ChangeError(f"change.min_confidence must be in [0, 1], got {threshold}")
    return threshold


def _below(landuse: LandUseMap, min_confidence: float | None) -> np.ndarray:
    """Classified cells less likely than ``min_confidence``."""
    classified = landuse.class_map.values < len(landuse.class_map.classes)
    if min_confidence is None:
        return np.zeros_like(classified)
    return classified & (landuse.confidence.values < min_confidence)


def change_codes(
    before: LandUseMap, after: LandUseMap, min_confidence: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """The change code of every cell (uint8, see the module) and the lower of the two
    top-class probabilities (float32, NaN where either date has none). The maps are on one
    grid (``align``)."""
    b = before.class_map.values.astype(np.int16)
    a = after.class_map.values.astype(np.int16)
    either = {  # each reason on either date, in NOT_COMPARABLE's order
        name: (b == value) | (a == value)
        for name, value in NOT_COMPARABLE.items()
        if value != CHANGE_LOW_CONFIDENCE  # not a map value: a threshold on the confidence
    }
    either["low_confidence"] = _below(before, min_confidence) | _below(after, min_confidence)
    codes = np.select(
        [*either.values(), b == a],
        [*NOT_COMPARABLE.values(), UNCHANGED + b],
        default=b * 10 + a,
    ).astype(np.uint8)
    confidence = np.minimum(before.confidence.values, after.confidence.values)
    return codes, confidence.astype(np.float32)


def decode(codes: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The compared cells and their before and after classes (-1 where not compared)."""
    codes = codes.astype(np.int16)
    compared = codes < UNCHANGED + n_classes
    unchanged = compared & (codes >= UNCHANGED)
    before = np.where(unchanged, codes - UNCHANGED, codes // 10)
    after = np.where(unchanged, codes - UNCHANGED, codes % 10)
    return compared, np.where(compared, before, -1), np.where(compared, after, -1)


def transition_matrix(codes: np.ndarray, n_classes: int) -> np.ndarray:
    """Cells per (before class, after class), compared cells only: ``(n, n)`` int64."""
    compared, before, after = decode(codes, n_classes)
    pairs = before[compared] * n_classes + after[compared]
    return np.bincount(pairs, minlength=n_classes**2).reshape(n_classes, n_classes)


def transitions(change: GeoGrid, classes: list[str]) -> pd.DataFrame:
    """One row per (from, to) pair of classes, the unchanged ones too: compared cells and
    their area in km2 (NaN without a projected CRS)."""
    matrix = transition_matrix(change.values, len(classes))
    km2 = cell_area_km2(change)
    names = np.array(classes)
    from_index, to_index = np.indices(matrix.shape).reshape(2, -1)
    return pd.DataFrame(
        {
            "from_class": names[from_index],
            "to_class": names[to_index],
            "cells": matrix.ravel(),
            "area_km2": matrix.ravel() * km2,
        }
    )


def code_names(classes: list[str]) -> dict[int, str]:
    """Every change code's name: ``Forest_to_Pasture``, ``Forest_unchanged``, ``masked``..."""
    names = {
        f * 10 + t: f"{classes[f]}_to_{classes[t]}"
        for f in range(len(classes))
        for t in range(len(classes))
        if f != t
    }
    names |= {UNCHANGED + c: f"{name}_unchanged" for c, name in enumerate(classes)}
    return names | {value: name for name, value in reversed(NOT_COMPARABLE.items())}


def change_colours(classes: list[str]) -> dict[int, tuple[int, int, int, int]]:
    """A colour table: a changed cell in its new class's colour, an unchanged one paler,
    masked white, uncertain black, low confidence grey, nodata transparent."""
    colours = class_colours(classes)
    table = {}
    for code in code_names(classes):
        if code < UNCHANGED:
            table[code] = colours[code % 10]
        elif code < UNCHANGED + len(classes):
            rgb = np.array(colours[code - UNCHANGED][:3])
            pale = rgb + _UNCHANGED_PALENESS * (255 - rgb)
            table[code] = (*(int(round(v)) for v in pale), 255)
    table[CLASS_MASKED] = colours[CLASS_MASKED]
    table[CLASS_UNCERTAIN] = colours[CLASS_UNCERTAIN]
    table[CHANGE_LOW_CONFIDENCE] = (128, 128, 128, 255)
    table[CLASS_NODATA] = (0, 0, 0, 0)
    return table


def change_map(
    before: LandUseMap, after: LandUseMap, min_confidence: float | None
) -> tuple[GeoGrid, GeoGrid]:
    """The change map (codes, nodata 255) and its confidence map (nodata NaN) on the earlier
    map's grid, tagged with both sources, the classes and the codes."""
    reference = before.class_map
    classes = list(reference.classes)
    codes, confidence = change_codes(before, after, min_confidence)
    tags = {
        "before": before.source,
        "after": after.source,
        **{
            f"{side}_{key}": landuse.class_map.tags[key]
            for side, landuse in (("before", before), ("after", after))
            for key in MODEL_TAGS
            if landuse.class_map.tags.get(key)
        },
        "stride": reference.tags.get("stride", ""),
        "window": reference.tags.get("window", ""),
        "min_confidence": str(min_confidence),
        "landuse_classes": json.dumps(classes),
        "codes": json.dumps({str(code): name for code, name in code_names(classes).items()}),
        "value_changed": "from * 10 + to",
        "value_unchanged": f"{UNCHANGED} + class",
        **{f"value_{name}": str(value) for name, value in NOT_COMPARABLE.items()},
    }
    description = (
        "land-use change: from*10+to where the class changed, 100+class where it did not, "
        + ", ".join(f"{value} {name}" for name, value in reversed(NOT_COMPARABLE.items()))
        + "; classes "
        + ", ".join(f"{i}={c}" for i, c in enumerate(classes))
    )
    where = {"transform": reference.transform, "crs": reference.crs, "tags": tags}
    codes_grid = GeoGrid(
        codes,
        nodata=CLASS_NODATA,
        description=description,
        colormap=change_colours(classes),
        **where,
    )
    return codes_grid, GeoGrid(
        confidence, nodata=np.nan, description="lower top-class probability", **where
    )


def date_summary(landuse: LandUseMap, min_confidence: float | None) -> dict:
    """What one date holds on the common grid: the cells classified, masked, uncertain,
    nodata and (classified, but) below ``min_confidence``."""
    ids = landuse.class_map.values
    summary = {
        "source": landuse.source,
        "model_uri": landuse.class_map.tags.get("model_uri"),
        "classified": int((ids < len(landuse.class_map.classes)).sum()),
        **{
            name: int((ids == value).sum())
            for name, value in NOT_COMPARABLE.items()
            if name != "low_confidence"
        },
        "low_confidence": int(_below(landuse, min_confidence).sum()),
    }
    if origin := landuse.class_map.tags.get("resampled_from"):
        summary["resampled_from"] = origin
    return summary


def change_report(
    before: LandUseMap, after: LandUseMap, change: GeoGrid, min_confidence: float | None
) -> dict:
    """Cells compared and changed, the changed share, the cells not compared by reason (by the
    change map's value, and per date), the area of a cell."""
    classes = list(before.class_map.classes)
    compared, was, now = decode(change.values, len(classes))
    changed = compared & (was != now)
    km2 = cell_area_km2(change)
    n_compared, n_changed = int(compared.sum()), int(changed.sum())
    known = not np.isnan(km2)
    return {
        "before": date_summary(before, min_confidence),
        "after": date_summary(after, min_confidence),
        "classes": classes,
        "min_confidence": min_confidence,
        "crs": change.crs.to_string() if change.crs else None,
        "cells": int(change.values.size),
        "cells_compared": n_compared,
        "cells_changed": n_changed,
        "changed_share": n_changed / n_compared if n_compared else None,
        "not_comparable": {
            name: int((change.values == value).sum()) for name, value in NOT_COMPARABLE.items()
        },
        "km2_per_cell": km2 if known else None,
        "area_compared_km2": n_compared * km2 if known else None,
        "area_changed_km2": n_changed * km2 if known else None,
    }
