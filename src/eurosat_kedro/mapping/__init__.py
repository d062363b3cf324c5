"""Land-use maps from whole scenes: windows of a raster classified by the served model.

Plain Python on rasterio and NumPy; no Kedro (the mapping pipeline's nodes call this).
"""

from .classify import classify_windows
from .grid import (
    CLASS_MASKED,
    CLASS_NODATA,
    CLASS_UNCERTAIN,
    NON_CLASS_VALUES,
    GeoGrid,
    WindowGrid,
    class_areas,
)
from .radiometry import ProductRadiometry, resolve_offset
from .render import class_colours, map_figure
from .scene import Scene, SceneError, SceneReader, open_scene, parse_bands
from .stretch import choose_limits, resolved_type, to_uint8

__all__ = [
    "CLASS_MASKED",
    "CLASS_NODATA",
    "CLASS_UNCERTAIN",
    "NON_CLASS_VALUES",
    "GeoGrid",
    "ProductRadiometry",
    "Scene",
    "SceneError",
    "SceneReader",
    "WindowGrid",
    "choose_limits",
    "class_areas",
    "class_colours",
    "classify_windows",
    "map_figure",
    "open_scene",
    "parse_bands",
    "resolve_offset",
    "resolved_type",
    "to_uint8",
]
