"""STAC items describing a land-use map (where it lies, when, its classes, the product it was
derived from and the model that made it) and a land-use change map (the period, its change
codes, both dates it was derived from); pystac, with the projection, raster and
classification extensions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pystac
from pystac.extensions.classification import Classification, ClassificationExtension
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import DataType, RasterBand, RasterExtension
from rasterio.transform import array_bounds
from rasterio.warp import transform_bounds

from .change import change_colours, code_names
from .grid import CLASS_NODATA, MODEL_TAGS, NON_CLASS_VALUES, GeoGrid
from .radiometry import acquisition_date
from .render import class_colours
from .stac_input import collection_member

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


def _add_projection(item: pystac.Item, grid: GeoGrid) -> None:
    projection = ProjectionExtension.ext(item, add_if_missing=True)
    projection.code = grid.crs.to_string() if grid.crs else None
    projection.shape = list(grid.values.shape)
    projection.transform = list(grid.transform)[:6]


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


def _source(source: str) -> tuple[str, str]:
    """The name (its stem, or the item id of ``search.json#ITEM_ID``) and the URI of what was
    mapped."""
    member = collection_member(source)
    if member is not None:
        return member[1], f"{member[0].resolve().as_uri()}#{member[1]}"
    return Path(source).stem, Path(source).resolve().as_uri()


def map_item(
    class_map: GeoGrid,
    source: str,
    model: Mapping[str, Any],
    processed: datetime | None = None,
    files: Sequence[str] = (),
) -> pystac.Item:
    """The STAC item of a land-use map written beside it: assets by relative href, the
    acquisition date in the name of ``source`` (the mapped product or scene; ``derived_from``
    link) or of its band ``files`` when one carries it, else ``processed``, and the model
    (``model_uri``, ``model_version``, ``model_test_accuracy``, ...) as ``eurosat:*``
    properties."""
    bbox, geometry = _footprint(class_map)
    processed = processed or datetime.now(timezone.utc)
    acquired = acquisition_date([source, *files])
    when = (
        datetime(acquired.year, acquired.month, acquired.day, tzinfo=timezone.utc)
        if acquired
        else processed
    )
    name, uri = _source(source)
    item = pystac.Item(
        id=f"landuse-{name or 'scene'}",
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
    item.add_link(pystac.Link("derived_from", uri))
    for key, (name, media_type, role) in ASSETS.items():
        item.add_asset(key, pystac.Asset(f"./{name}", media_type=media_type, roles=[role]))
    _add_projection(item, class_map)
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


CHANGE_ASSETS = {  # asset key -> file name beside the item, media type, role
    "landuse_change": ("landuse_change.tif", pystac.MediaType.COG, "data"),
    "landuse_change_confidence": ("landuse_change_confidence.tif", pystac.MediaType.COG, "data"),
    "landuse_transitions": ("landuse_transitions.csv", "text/csv", "metadata"),
    "landuse_change_report": ("landuse_change_report.json", pystac.MediaType.JSON, "metadata"),
    "preview": ("landuse_change.png", pystac.MediaType.PNG, "overview"),
}


def change_item(
    change_map: GeoGrid,
    dates: dict[str, Sequence[str]],
    classes: list[str],
    processed: datetime | None = None,
) -> pystac.Item:
    """The STAC item of a land-use change map written beside it. ``dates``: for ``before``
    and ``after``, what was given (the ``derived_from`` link) then the names that may carry
    its acquisition date; with both dates known the item spans them (start / end datetime),
    else it is dated ``processed``. ``classes``: the land-use classes the codes stand for."""
    bbox, geometry = _footprint(change_map)
    processed = processed or datetime.now(timezone.utc)
    acquired = [acquisition_date(list(names)) for names in dates.values()]
    span = {}
    if all(acquired):
        start, end = (
            datetime(d.year, d.month, d.day, tzinfo=timezone.utc).isoformat()
            for d in sorted(acquired)
        )
        span = {"start_datetime": start, "end_datetime": end}
    (before, before_uri), (after, after_uri) = (_source(names[0]) for names in dates.values())
    threshold = change_map.tags.get("min_confidence")  # "None" when off, as the map's tag
    item = pystac.Item(
        id=f"landuse-change-{before or 'before'}-{after or 'after'}",
        geometry=geometry,
        bbox=bbox,
        datetime=None if span else processed,
        properties={
            "title": f"Land-use change from {before} to {after}",
            "created": processed.isoformat(),
            **span,
            **_model_properties(change_map.tags),
            "eurosat:min_confidence": None if threshold in (None, "None") else float(threshold),
        },
    )
    for uri in (before_uri, after_uri):
        item.add_link(pystac.Link("derived_from", uri))
    for key, (name, media_type, role) in CHANGE_ASSETS.items():
        item.add_asset(key, pystac.Asset(f"./{name}", media_type=media_type, roles=[role]))
    _add_projection(item, change_map)
    colours = change_colours(classes)
    ClassificationExtension.ext(item.assets["landuse_change"], add_if_missing=True).classes = [
        Classification.create(
            value=code,
            name=name,
            title=name.replace("_to_", " -> ").replace("_", " "),
            color_hint="".join(f"{c:02X}" for c in colours[code][:3])
            if code in colours and code != CLASS_NODATA
            else None,
            nodata=True if code == CLASS_NODATA else None,
        )
        for code, name in sorted(code_names(classes).items())
    ]
    RasterExtension.ext(item.assets["landuse_change"], add_if_missing=True).bands = [
        RasterBand.create(nodata=CLASS_NODATA, data_type=DataType.UINT8)
    ]
    RasterExtension.ext(item.assets["landuse_change_confidence"], add_if_missing=True).bands = [
        RasterBand.create(nodata="nan", data_type=DataType.FLOAT32)
    ]
    return item


def _model_properties(change_tags: Mapping[str, str]) -> dict[str, Any]:
    """Each date's model as the change item's ``eurosat:before_*`` / ``eurosat:after_*``
    properties, typed as the maps' own items have them; unknown values are left out."""
    return {
        f"eurosat:{side}_{key}": read(change_tags[f"{side}_{key}"])
        for side in ("before", "after")
        for key, read in MODEL_TAGS.items()
        if change_tags.get(f"{side}_{key}")
    }


MAPS_COLLECTION_ID = "eurosat-landuse-maps"


def maps_collection(items: Sequence[tuple[str, dict]]) -> pystac.Collection:
    """A STAC Collection of land-use maps: ``items`` are (the href of an item's file relative
    to the collection's, the item as ``map_item`` made it). Its extent spans the items' (the
    footprints of the maps with a CRS, the dates of all)."""
    stac_items = [pystac.Item.from_dict(item) for _, item in items]
    located = [item for item in stac_items if item.geometry is not None]
    spatial = (
        pystac.Extent.from_items(located).spatial
        if located
        else pystac.SpatialExtent([[-180.0, -90.0, 180.0, 90.0]])
    )
    dates = sorted(item.datetime for item in stac_items) or [datetime.now(timezone.utc)]
    collection = pystac.Collection(
        id=MAPS_COLLECTION_ID,
        title="Land-use maps",
        description=(
            "Land-use maps of Sentinel-2 scenes (EuroSAT classes, one pixel per 64x64-pixel "
            "window) made by the mapping_many pipeline of eurosat-kedro"
        ),
        extent=pystac.Extent(spatial, pystac.TemporalExtent([[dates[0], dates[-1]]])),
        license="other",
    )
    for (href, _), item in zip(items, stac_items, strict=True):
        collection.add_link(
            pystac.Link("item", href, media_type=pystac.MediaType.GEOJSON, title=item.id)
        )
    return collection
