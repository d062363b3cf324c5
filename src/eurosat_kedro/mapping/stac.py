"""A STAC item describing a land-use map: where it lies, when, its classes, the product it was
derived from and the model that made it (pystac, with the projection, raster and
classification extensions)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import pystac
from pystac.extensions.classification import Classification, ClassificationExtension
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import DataType, RasterBand, RasterExtension
from rasterio.transform import array_bounds
from rasterio.warp import transform_bounds

from .grid import CLASS_NODATA, NON_CLASS_VALUES, GeoGrid
from .radiometry import acquisition_date
from .render import class_colours

ASSETS = {  # asset key -> file name beside the item, media type, role
    "landuse_map": ("landuse_map.tif", pystac.MediaType.COG, "data"),
    "landuse_confidence": ("landuse_confidence.tif", pystac.MediaType.COG, "data"),
    "landuse_areas": ("landuse_areas.csv", "text/csv", "metadata"),
    "preview": ("landuse_map.png", pystac.MediaType.PNG, "overview"),
}


def _footprint(class_map: GeoGrid) -> tuple[list[float], dict | None]:
    """The map's bounds in WGS84 (what STAC wants) and their polygon; the map's own bounds
    and no geometry when it has no CRS."""
    # (west, south, east, north) whatever the transform's orientation
    west, south, east, north = array_bounds(*class_map.values.shape, class_map.transform)
    if class_map.crs is None:
        return [west, south, east, north], None
    west, south, east, north = transform_bounds(
        class_map.crs, "EPSG:4326", west, south, east, north
    )
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return [west, south, east, north], {"type": "Polygon", "coordinates": [ring]}


def _classification(classes: list[str]) -> list[Classification]:
    colours = class_colours(classes)
    values = [*enumerate(classes), *((v, n) for n, v in NON_CLASS_VALUES.items())]
    return [
        Classification.create(
            value=value,
            name=name,
            description="not a land-use class" if name in NON_CLASS_VALUES else None,
            color_hint="".join(f"{c:02X}" for c in colours[value][:3]),
        )
        for value, name in values
    ] + [Classification.create(value=CLASS_NODATA, name="nodata", nodata=True)]


def map_item(
    class_map: GeoGrid,
    source: str,
    model: dict[str, str],
    processed: datetime | None = None,
    files: Sequence[str] = (),
) -> pystac.Item:
    """The STAC item of a land-use map written beside it: assets by relative href, the
    acquisition date in the name of ``source`` (the mapped product or scene; ``derived_from``
    link) or of its band ``files`` when one carries it, else ``processed``, and the model as
    ``eurosat:*`` properties."""
    bbox, geometry = _footprint(class_map)
    processed = processed or datetime.now(timezone.utc)
    acquired = acquisition_date([source, *files])
    when = (
        datetime(acquired.year, acquired.month, acquired.day, tzinfo=timezone.utc)
        if acquired
        else processed
    )
    item = pystac.Item(
        id=f"landuse-{Path(source).stem or 'scene'}",
        geometry=geometry,
        bbox=bbox,
        datetime=when,
        properties={
            "title": f"Land use of {Path(source).name}",
            "created": processed.isoformat(),
            **{f"eurosat:{key}": value for key, value in model.items()},
            "eurosat:window_px": int(class_map.tags.get("window", 64)),
            "eurosat:stride_px": int(class_map.tags.get("stride", 64)),
        },
    )
    item.add_link(pystac.Link("derived_from", Path(source).resolve().as_uri()))
    for key, (name, media_type, role) in ASSETS.items():
        item.add_asset(key, pystac.Asset(f"./{name}", media_type=media_type, roles=[role]))
    projection = ProjectionExtension.ext(item, add_if_missing=True)
    projection.code = class_map.crs.to_string() if class_map.crs else None
    projection.shape = list(class_map.values.shape)
    projection.transform = list(class_map.transform)[:6]
    ClassificationExtension.ext(
        item.assets["landuse_map"], add_if_missing=True
    ).classes = _classification(class_map.classes)
    RasterExtension.ext(item.assets["landuse_map"], add_if_missing=True).bands = [
        RasterBand.create(nodata=CLASS_NODATA, data_type=DataType.UINT8)
    ]
    RasterExtension.ext(item.assets["landuse_confidence"], add_if_missing=True).bands = [
        RasterBand.create(nodata="nan", data_type=DataType.FLOAT32)
    ]
    return item
