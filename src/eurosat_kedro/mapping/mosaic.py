"""One GDAL VRT per CRS of many land-use maps, so a GIS opens all the maps of a run as one layer.

rasterio has no BuildVRT (GDAL's Python bindings have, and this project does not depend on
them), so the XML is written here: the part of GDAL's VRT format
(https://gdal.org/en/stable/drivers/raster/vrt.html) that a mosaic of north-up maps of one
resolution needs. Each map is read from its STAC item (``proj:*`` and the classification
extension), not from its file.
"""

from __future__ import annotations

import hashlib
import math
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass

from rasterio import Affine
from rasterio.crs import CRS

from .grid import CLASS_NODATA

CLASSES_FIELD = "classification:classes"


@dataclass(frozen=True)
class MapTile:
    """A land-use map in a mosaic: its GeoTIFF (``href``, relative to the VRT) and grid."""

    href: str
    width: int
    height: int
    transform: Affine
    crs: CRS


def tile_of(item: dict, href: str) -> MapTile | None:
    """The map of a STAC item made by ``stac.map_item``; None when it cannot join a mosaic
    (no CRS, or a rotated grid)."""
    properties = item["properties"]
    transform = Affine(*properties["proj:transform"][:6])
    if not properties.get("proj:code") or transform.b or transform.d:
        return None
    height, width = properties["proj:shape"]
    return MapTile(href, width, height, transform, CRS.from_user_input(properties["proj:code"]))


def _crs_name(crs: CRS) -> str:
    epsg = crs.to_epsg()
    return f"EPSG_{epsg}" if epsg else f"crs_{hashlib.sha1(crs.to_wkt().encode()).hexdigest()[:8]}"


def group_tiles(tiles: list[MapTile]) -> dict[str, list[MapTile]]:
    """The tiles of each mosaic, by name: ``landuse_map_EPSG_32633``, and the pixel size too
    (``..._640m``) where maps of one CRS have several (made with different strides)."""
    groups: dict[tuple[CRS, float, float], list[MapTile]] = defaultdict(list)
    for tile in tiles:
        groups[(tile.crs, tile.transform.a, tile.transform.e)].append(tile)
    per_crs = defaultdict(int)
    for crs, _, _ in groups:
        per_crs[crs] += 1
    return {
        f"landuse_map_{_crs_name(crs)}" + (f"_{x:g}m" if per_crs[crs] > 1 else ""): members
        for (crs, x, _), members in groups.items()
    }


def _number(value: float) -> str:
    return repr(float(value))


def mosaic_vrt(tiles: list[MapTile], classes: list[dict]) -> str:
    """The VRT of ``tiles`` (one CRS, one pixel size): their union, the later tile on top
    where two overlap (a tile's nodata lets the ones below show), the classes' colour table
    and names from the items' ``classification:classes``."""
    first = tiles[0].transform
    x_size, y_size = first.a, -first.e  # y_size > 0: north-up
    west = min(t.transform.c for t in tiles)
    north = max(t.transform.f for t in tiles)
    east = max(t.transform.c + t.width * x_size for t in tiles)
    south = min(t.transform.f - t.height * y_size for t in tiles)
    width = math.ceil(round((east - west) / x_size, 6))
    height = math.ceil(round((north - south) / y_size, 6))
    root = ET.Element("VRTDataset", rasterXSize=str(width), rasterYSize=str(height))
    ET.SubElement(root, "SRS").text = tiles[0].crs.to_wkt()
    ET.SubElement(root, "GeoTransform").text = ", ".join(
        _number(v) for v in (west, x_size, 0.0, north, 0.0, -y_size)
    )
    band = ET.SubElement(root, "VRTRasterBand", dataType="Byte", band="1")
    ET.SubElement(band, "NoDataValue").text = str(CLASS_NODATA)
    ET.SubElement(band, "ColorInterp").text = "Palette"
    by_value = {int(c["value"]): c for c in classes}
    names = ET.SubElement(band, "CategoryNames")
    for value in range(CLASS_NODATA):
        ET.SubElement(names, "Category").text = by_value.get(value, {}).get("name", "")
    table = ET.SubElement(band, "ColorTable")
    for value in range(CLASS_NODATA + 1):
        hint = by_value.get(value, {}).get("color_hint")
        rgba = [int(hint[i : i + 2], 16) for i in (0, 2, 4)] + [255] if hint else [0, 0, 0, 0]
        ET.SubElement(table, "Entry", {f"c{i + 1}": str(v) for i, v in enumerate(rgba)})
    for tile in tiles:
        source = ET.SubElement(band, "ComplexSource")
        ET.SubElement(source, "SourceFilename", relativeToVRT="1").text = tile.href
        ET.SubElement(source, "SourceBand").text = "1"
        size = {"xSize": str(tile.width), "ySize": str(tile.height)}
        ET.SubElement(source, "SrcRect", xOff="0", yOff="0", **size)
        ET.SubElement(
            source,
            "DstRect",
            xOff=_number(round((tile.transform.c - west) / x_size, 9)),
            yOff=_number(round((north - tile.transform.f) / y_size, 9)),
            **size,
        )
        ET.SubElement(source, "NODATA").text = str(CLASS_NODATA)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode") + "\n"
