"""A Sentinel-2 STAC item as a scene: its 10 m red, green and blue assets (Earth Search,
Planetary Computer and stactools keys), their offset and the scene classification."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import unquote, urlparse

import pystac

from .radiometry import BASELINE_OFFSET, ProductRadiometry
from .safe import Product, ProductError

COLOURS = {"red": "B04", "green": "B03", "blue": "B02"}
MASK_KEYS = ("scl", "SCL", "SCL_20m")
# "search.json#ITEM_ID": the item ITEM_ID of a STAC ItemCollection file (a STAC API search)
ITEM_IN_COLLECTION = "#"
REMOTE_PREFIXES = {"/vsicurl/": "", "/vsis3/": "s3://"}  # GDAL's prefix -> the href's
# GDAL's settings for rasters read over the network: no listing of the remote folder nor
# requests for side-car files (.aux.xml, .ovr, .msk) that an asset never has, and a bounded
# wait for a server that does not answer (curl's own is 300 s)
REMOTE_READ_OPTIONS = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_HTTP_CONNECTTIMEOUT": "30",
}


def collection_member(path: str | Path) -> tuple[Path, str] | None:
    """The ItemCollection file and the item id of ``search.json#ITEM_ID``; None for any other
    path (a file whose name holds ``#`` is itself)."""
    text = str(path)
    file, separator, item_id = text.rpartition(ITEM_IN_COLLECTION)
    if not separator or not item_id or not file.lower().endswith(".json") or Path(text).exists():
        return None
    return Path(file).expanduser(), item_id


def json_object(path: Path) -> dict | None:
    """The JSON object a ``.json`` file holds; None for any other file, or one that cannot
    be read as a JSON object."""
    if not (path.is_file() and path.suffix.lower() == ".json"):
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def is_stac_item(path: Path) -> bool:
    """A JSON file holding a STAC item."""
    data = json_object(path) or {}
    return data.get("type") == "Feature" and "stac_version" in data


def readable_href(href: str) -> str:
    """What rasterio opens for an asset href: a local path for ``file://`` and plain paths,
    GDAL's ``/vsicurl/`` for http(s), ``/vsis3/`` for s3."""
    parsed = urlparse(href)
    if parsed.scheme in ("", "file"):
        return unquote(parsed.path) if parsed.scheme else href
    if parsed.scheme in ("http", "https"):
        return f"/vsicurl/{href}"
    if parsed.scheme == "s3":
        return f"/vsis3/{parsed.netloc}{parsed.path}"
    raise ProductError(f"asset href {href!r}: the scheme {parsed.scheme!r} cannot be read")


def asset_href(path: str) -> str | None:
    """The href a path of ``readable_href`` reads over the network; None for a local path."""
    for prefix, scheme in REMOTE_PREFIXES.items():
        if path.startswith(prefix):
            return scheme + path.removeprefix(prefix)
    return None


def remote_read_options(
    paths: Iterable[str], environ: Mapping[str, str] = os.environ
) -> dict[str, str]:
    """GDAL's settings for reading ``paths``: ``REMOTE_READ_OPTIONS`` when one of them is read
    over the network, less those set in ``environ`` (the user's own settings win); none for
    local files, whose side-car files GDAL must still find."""
    if not any(asset_href(str(path)) for path in paths):
        return {}
    return {key: value for key, value in REMOTE_READ_OPTIONS.items() if key not in environ}


def _common_names(asset: pystac.Asset) -> list[str]:
    bands = asset.extra_fields.get("eo:bands") or asset.extra_fields.get("bands") or []
    return [band.get("common_name") or band.get("eo:common_name") for band in bands]


def _pick(item: pystac.Item, colour: str) -> tuple[str, pystac.Asset] | None:
    """The 10 m asset of ``colour``: by key (``red``, ``B04``, ``B04_10m``), else by its one
    eo:bands common name at 10 m."""
    band = COLOURS[colour]
    for key in (colour, band, f"{band}_10m"):
        if key in item.assets:
            return key, item.assets[key]
    for key, asset in item.assets.items():
        gsd = asset.extra_fields.get("gsd", item.properties.get("gsd"))
        if _common_names(asset) == [colour] and gsd in (None, 10, 10.0) and "jp2" not in key:
            return key, asset
    return None


def _offset(item: pystac.Item, asset: pystac.Asset) -> float:
    """The DN offset of an asset: ``raster:bands`` offset / scale (-0.1 / 0.0001 = -1000),
    else 0 where Earth Search applied it, else from the processing baseline."""
    raster = (asset.extra_fields.get("raster:bands") or [{}])[0]
    if raster.get("offset") is not None and raster.get("scale"):
        return float(raster["offset"]) / float(raster["scale"])
    if item.properties.get("earthsearch:boa_offset_applied") is True:
        return 0.0
    baseline = str(item.properties.get("s2:processing_baseline", ""))
    return BASELINE_OFFSET if baseline >= "04.00" else 0.0


def _collection_item(path: Path, item_id: str) -> pystac.Item:
    """The item ``item_id`` of the ItemCollection at ``path``, its relative hrefs read against
    the collection file's folder."""
    try:
        collection = pystac.ItemCollection.from_file(str(path))
    except Exception as error:  # noqa: BLE001 - pystac raises many kinds for a bad file
        raise ProductError(
            f"{path} is not a STAC ItemCollection pystac can read ({error})"
        ) from error
    found = [item for item in collection if item.id == item_id]
    if not found:
        ids = [item.id for item in collection]
        raise ProductError(
            f"{path} holds no item {item_id!r} ({len(ids)} items: {', '.join(ids[:3])}"
            f"{', ...' if len(ids) > 3 else ''})"
        )
    found[0].set_self_href(str(path.resolve()))
    return found[0]


def open_stac_item(path: Path, item_id: str | None = None) -> Product:
    """The red, green and blue files of the item at ``path`` (or of the item ``item_id`` of
    the ItemCollection at ``path``; relative hrefs against the file's own location), its
    offset, and its scene classification when it has one."""
    if item_id is not None:
        item, where = _collection_item(path, item_id), f"{path}{ITEM_IN_COLLECTION}{item_id}"
    else:
        try:
            item, where = pystac.Item.from_file(str(path)), str(path)
        except Exception as error:  # noqa: BLE001 - pystac raises many kinds for a bad item
            raise ProductError(f"{path} is not a STAC item pystac can read ({error})") from error
    picked = {colour: _pick(item, colour) for colour in COLOURS}
    if missing := [colour for colour, found in picked.items() if found is None]:
        raise ProductError(
            f"{where}: no 10 m {', '.join(missing)} asset among {sorted(item.assets)}; "
            "give the product's band files or a .SAFE instead"
        )
    files = [readable_href(asset.get_absolute_href()) for _, asset in picked.values()]
    offsets = {_offset(item, asset) for _, asset in picked.values()}
    if len(offsets) > 1:
        raise ProductError(f"{where}: the red, green, blue assets have offsets {sorted(offsets)}")
    level = "L2A" if "L2A" in (item.id + str(item.properties.get("s2:product_type"))) else "L1C"
    radiometry = ProductRadiometry(
        offsets.pop(), level, item.properties.get("s2:processing_baseline"), where
    )
    mask_key = next((key for key in MASK_KEYS if key in item.assets), None)
    mask = readable_href(item.assets[mask_key].get_absolute_href()) if mask_key else None
    return Product(item.id, tuple(files), radiometry, mask, "scl" if mask else None)
