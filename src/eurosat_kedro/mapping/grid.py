"""The window grid over a scene, the map raster it gives, and the areas of its classes."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from rasterio import Affine
from rasterio.crs import CRS

from eurosat_kedro.preprocessing import IMAGE_SIZE

logger = logging.getLogger(__name__)

CLASS_NODATA = 255  # not classified: outside the scene or mostly nodata
CLASS_MASKED = 254  # masked: cloud, shadow, snow, saturated... (the product's mask)
CLASS_UNCERTAIN = 253  # classified, but the top class is less likely than mapping.min_confidence
NON_CLASS_VALUES = {"masked": CLASS_MASKED, "uncertain": CLASS_UNCERTAIN}
# the tags naming the model that made a map (pipelines.mapping.nodes.model_properties writes
# them; a change map carries each date's as before_* / after_*), with how a STAC item reads
# the tag's text back
MODEL_TAGS = {
    "model_uri": str,
    "precision": str,
    "registered_model": str,
    "model_version": str,
    "model_run_id": str,
    "model_test_accuracy": float,
    "model_test_accuracy_ci": json.loads,  # [low, high]
}


@dataclass(frozen=True)
class WindowGrid:
    """Window ``(r, c)`` covers scene pixels ``[r*stride, r*stride+64) x [c*stride, ...)``; its
    map pixel covers ``stride x stride`` scene pixels from the same corner. The grid covers
    the whole scene (``ceil(side / stride)`` windows a side): a window that would reach past
    the scene's edge is not classified (nodata)."""

    width: int
    height: int
    stride: int
    size: int = IMAGE_SIZE

    def __post_init__(self):
        if self.stride < 1:
            raise ValueError(
                f"mapping.stride must be a positive number of pixels, got {self.stride}"
            )

    @property
    def shape(self) -> tuple[int, int]:
        return math.ceil(self.height / self.stride), math.ceil(self.width / self.stride)

    def inside(self, length: int) -> int:
        """How many windows along a side of ``length`` pixels lie wholly inside it."""
        return 0 if length < self.size else (length - self.size) // self.stride + 1

    def map_transform(self, scene_transform: Affine) -> Affine:
        return scene_transform @ Affine.scale(self.stride)


@dataclass
class GeoGrid:
    """A single-band georeferenced raster held in memory (the maps are one pixel a window)."""

    values: np.ndarray
    transform: Affine
    crs: CRS | None
    nodata: float
    description: str = ""
    classes: list[str] | None = None
    colormap: dict[int, tuple[int, int, int, int]] | None = None
    tags: dict[str, str] = field(default_factory=dict)


def cell_area_km2(grid: GeoGrid) -> float:
    """The area of one cell of ``grid`` in km2 (abs(a*e) of its transform, in the projected
    CRS's units); NaN, with a logged warning, without a projected CRS."""
    if grid.crs is not None and grid.crs.is_projected:
        metres = grid.crs.linear_units_factor[1]
        return abs(grid.transform.determinant) * metres**2 / 1e6
    logger.warning(
        "The map has %s: areas are in windows and scene pixels only",
        "no CRS" if grid.crs is None else f"a geographic CRS ({grid.crs}), not a projected one",
    )
    return float("nan")


def class_areas(class_map: GeoGrid) -> pd.DataFrame:
    """Per class, then for the ``masked`` and ``uncertain`` windows: windows, scene pixels,
    area in km2 (NaN without a projected CRS) and, for the classes, share of the classified
    windows."""
    ids = class_map.values
    n_classes = len(class_map.classes)
    counts = np.bincount(ids[ids < n_classes].ravel(), minlength=n_classes)
    km2_per_cell = cell_area_km2(class_map)
    cell_pixels = class_map.tags.get("stride")
    total = counts.sum()
    others = np.array([int((ids == value).sum()) for value in NON_CLASS_VALUES.values()])
    windows = np.concatenate([counts, others])
    shares = counts / total if total else np.zeros(n_classes)
    return pd.DataFrame(
        {
            "class": [*class_map.classes, *NON_CLASS_VALUES],
            "windows": windows,
            "pixels": windows * int(cell_pixels) ** 2 if cell_pixels else np.nan,
            "area_km2": windows * km2_per_cell,
            "share": np.concatenate([shares, [np.nan] * len(others)]),
        }
    )
