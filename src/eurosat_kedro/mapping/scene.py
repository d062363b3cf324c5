"""A scene to map: one RGB raster, band indexes of one file, or Sentinel-2 band files.

Opening a scene checks everything that can be checked from the headers (the files exist, are
rasters, have the bands asked for, share one grid, hold at least one window) and reads no
pixels; ``SceneReader`` then reads windows of it, a strip at a time.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import MaskFlags, Resampling
from rasterio.errors import RasterioIOError
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from eurosat_kedro.preprocessing import IMAGE_SIZE

from .radiometry import ProductRadiometry, find_metadata, read_metadata
from .safe import RGB_BANDS, ProductError, is_product, open_product
from .stac_input import (
    asset_href,
    collection_member,
    is_stac_item,
    open_stac_item,
    remote_read_options,
)

logger = logging.getLogger(__name__)

RASTER_SUFFIXES = {".tif", ".tiff", ".vrt", ".img", ".jp2"}
# GDAL's block cache while reading holds two rows of blocks of every file read (a strip crosses
# at most two), so each block is decoded once however many strips cross it: 16 strips cross a
# 1024 x 1024 JPEG 2000 tile of a Sentinel-2 band. It grows with the scene's width, never its
# height, and is never below this many bytes.
MIN_BLOCK_CACHE_BYTES = 64 * 2**20
HOW_TO_PICK = (
    'set mapping.bands: band indexes of the file ("mapping.bands=4 3 2") or '
    'Sentinel-2 band files next to it ("mapping.bands=B04 B03 B02")'
)


class SceneError(ValueError):
    """A scene that cannot be mapped; the message names the file and the fix."""


# Sentinel-2 L2A scene classification (SCL) values masked by default: no data (0), saturated or
# defective (1), cloud shadows (3), cloud medium / high probability (8, 9), thin cirrus (10),
# snow or ice (11)
SCL_MASKED = (0, 1, 3, 8, 9, 10, 11)


@dataclass(frozen=True)
class SceneMask:
    """Where the scene must not be classified: an L2A scene classification (``scl``; pixels
    of ``masked_values``) or an L1C classification mask (``classi``: any non-zero band:
    opaque clouds, cirrus, snow), read on the scene's grid with nearest resampling."""

    file: str
    kind: str  # "scl" | "classi"
    masked_values: tuple[int, ...] = SCL_MASKED


@dataclass(frozen=True)
class Scene:
    """Where the red, green and blue values are, and the grid they share."""

    bands: tuple[tuple[str, int], ...]  # (file, 1-based band index) for red, green, blue
    width: int
    height: int
    crs: rasterio.crs.CRS | None
    transform: rasterio.Affine
    dtype: str
    has_mask: bool  # a nodata value, an alpha band or an internal mask
    product: ProductRadiometry | None = None  # what the product metadata says, when found
    mask: SceneMask | None = None  # the product's cloud / snow mask, when it has one
    # what the user gave as mapping.scene (a product, a folder, a file): not part of what the
    # scene is, so two ways to name the same bands give equal scenes
    source: str = field(default="", compare=False)

    @property
    def name(self) -> str:
        return self.bands[0][0]

    def reader(self) -> SceneReader:
        return SceneReader(self)


def parse_bands(bands) -> list[int] | list[str] | None:
    """``None``, a list, or a string ``"B04 B03 B02"`` / ``"4 3 2"`` (the command line splits
    ``--params`` on commas, so spaces separate the bands there)."""
    if bands is None or bands == "":
        return None
    items = bands.replace(";", " ").split() if isinstance(bands, str) else list(bands)
    if len(items) != 3:
        raise SceneError(
            f"mapping.bands {bands!r} has {len(items)} items; give three, red "
            'green blue: e.g. "B04 B03 B02" or "4 3 2"'
        )
    if all(isinstance(b, int) or str(b).isdigit() for b in items):
        return [int(b) for b in items]
    if any(isinstance(b, int) or str(b).isdigit() for b in items):
        raise SceneError(f"mapping.bands {bands!r} mixes band indexes and band names")
    return [str(b) for b in items]


def open_scene(path: str | Path | None, bands=None) -> Scene:
    """Check a scene from its headers; raises SceneError naming the file and the fix."""
    if not path:
        raise SceneError(
            "Set the scene to map: kedro run --pipelines mapping --params "
            '"mapping.scene=PATH" (a GeoTIFF, a Sentinel-2 band folder, a .SAFE product, '
            "its .zip or its MTD XML)"
        )
    member = collection_member(path)  # "search.json#ITEM_ID": an item of an ItemCollection
    path = Path(path).expanduser()
    if not (member[0] if member else path).exists():
        raise SceneError(f"mapping.scene {str(path)!r}: no such file or folder")
    picked = parse_bands(bands)
    stac_item = member is not None or is_stac_item(path)
    if stac_item or (is_product(path) and not (picked and isinstance(picked[0], int))):
        try:
            if stac_item:
                product = open_stac_item(*member) if member else open_stac_item(path)
            else:
                product = open_product(path, picked or RGB_BANDS)
        except (ProductError, ValueError) as error:
            raise SceneError(str(error)) from error
        try:
            scene = _scene_from_headers([(file, 1) for file in product.band_files])
        except SceneError as error:
            if not stac_item:
                raise
            raise SceneError(f"the STAC item {path}: {error}") from error
        mask = SceneMask(product.mask_file, product.mask_kind) if product.mask_file else None
        return replace(scene, product=product.radiometry, mask=mask, source=str(path))
    if picked and isinstance(picked[0], str):
        sources = [(str(f), 1) for f in band_files(path, picked)]
    elif path.is_dir():
        raise SceneError(
            f"{path} is a folder: give a raster file as mapping.scene, or the "
            'Sentinel-2 bands to read from it ("mapping.bands=B04 B03 B02")'
        )
    else:
        count = _header(path)["count"]
        indexes = picked or [1, 2, 3]
        if picked is None and count != 3:
            raise SceneError(
                f"{path} has {count} band(s), not the 3 of an RGB image: {HOW_TO_PICK}"
            )
        if bad := [i for i in indexes if not 1 <= i <= count]:
            raise SceneError(
                f"{path} has {count} band(s): band index(es) {bad} of "
                f"mapping.bands do not exist (indexes start at 1)"
            )
        sources = [(str(path), i) for i in indexes]
    scene = replace(_scene_from_headers(sources), source=str(path))
    metadata = find_metadata(Path(sources[0][0]))
    if metadata is None:
        return scene
    try:
        product = read_metadata(metadata)
    except ValueError as error:
        raise SceneError(str(error)) from error
    return replace(scene, product=product)


def band_files(path: Path, bands: list[str]) -> list[Path]:
    """The file of each band: ``<prefix>_<band>.tif`` in the folder ``path``, or beside the
    band file ``path`` (whose name gives the prefix)."""
    folder = path if path.is_dir() else path.parent
    prefix = "" if path.is_dir() else re.sub(r"_[^_]*$", "", path.stem)
    found = []
    for band in bands:
        matches = sorted(
            p
            for p in folder.iterdir()
            if p.suffix.lower() in RASTER_SUFFIXES
            and p.name.startswith(prefix)
            and p.stem.endswith(f"_{band}")
        )
        if not matches:
            raise SceneError(
                f"missing band file: no {folder / (prefix or '*')}*_{band}.tif for "
                f"band {band} of mapping.bands {bands}; the bands must be separate "
                "files next to each other, named <patch>_<band>.tif"
            )
        if len(matches) > 1:
            raise SceneError(
                f"{len(matches)} files for band {band} in {folder} "
                f"({', '.join(p.name for p in matches[:4])}): give one band file "
                "of the patch as mapping.scene to pick its prefix"
            )
        found.append(matches[0])
    return found


def _header(path: str | Path) -> dict:
    try:
        with rasterio.Env(**remote_read_options([str(path)])), rasterio.open(path) as src:
            return {
                "count": src.count,
                "width": src.width,
                "height": src.height,
                "crs": src.crs,
                "transform": src.transform,
                "dtype": src.dtypes[0],
                "has_mask": any(MaskFlags.all_valid not in flags for flags in src.mask_flag_enums),
            }
    except RasterioIOError as error:
        if href := asset_href(str(path)):
            raise SceneError(
                f"the asset {href} cannot be read over the network ({error}): check that "
                "the address is right and reachable from here (a signed URL may have "
                "expired: fetch or sign the item again), or download the assets and give "
                "the item with local hrefs"
            ) from error
        raise SceneError(
            f"{path} is not a raster that rasterio can open ({error}); give a "
            "GeoTIFF (or any GDAL raster) as mapping.scene"
        ) from error


def _scene_from_headers(sources: list[tuple[str, int]]) -> Scene:
    headers = {file: _header(file) for file, _ in sources}
    first_file = sources[0][0]
    first = headers[first_file]
    for file, header in headers.items():
        if (header["width"], header["height"], header["transform"], header["crs"]) != (
            first["width"],
            first["height"],
            first["transform"],
            first["crs"],
        ):
            raise SceneError(
                f"{file} ({header['width']}x{header['height']} px, {header['crs']}) is not on "
                f"the grid of {first_file} ({first['width']}x{first['height']} px, "
                f"{first['crs']}): choose bands of one resolution, e.g. B04 B03 B02 (10 m)"
            )
    if len({h["dtype"] for h in headers.values()}) > 1:
        raise SceneError(f"the band files {list(headers)} have different data types")
    if min(first["width"], first["height"]) < IMAGE_SIZE:
        raise SceneError(
            f"{first_file} is {first['width']}x{first['height']} px, smaller than one "
            f"{IMAGE_SIZE}x{IMAGE_SIZE} window: the model classifies {IMAGE_SIZE}x{IMAGE_SIZE}"
            "-pixel tiles (640 m at 10 m); give a larger scene"
        )
    if first["crs"] is None:
        logger.warning(
            "%s has no CRS: the map is written without one and areas are given "
            "in pixels only; georeference the scene (e.g. gdal_edit.py -a_srs) for "
            "areas in km2",
            first_file,
        )
    return Scene(
        tuple(sources),
        first["width"],
        first["height"],
        first["crs"],
        first["transform"],
        first["dtype"],
        any(h["has_mask"] for h in headers.values()),
    )


def block_cache_bytes(datasets) -> int:
    """GDAL's block cache for reading ``datasets`` a strip at a time: two rows of blocks of
    each (all its bands), at least ``MIN_BLOCK_CACHE_BYTES``."""
    row = 0
    for src in datasets:
        for (height, width), dtype in zip(src.block_shapes, src.dtypes, strict=True):
            row += -(-src.width // width) * width * height * np.dtype(dtype).itemsize
    return max(MIN_BLOCK_CACHE_BYTES, 2 * row)


class SceneReader:
    """Open files of a scene; ``read`` gives the RGB values and validity of a window."""

    def __init__(self, scene: Scene):
        self.scene = scene
        self._env: rasterio.Env | None = None
        self._files: dict[str, rasterio.io.DatasetReader] = {}

    def __enter__(self) -> SceneReader:
        mask_files = [self.scene.mask.file] if self.scene.mask is not None else []
        remote = remote_read_options([file for file, _ in self.scene.bands] + mask_files)
        with rasterio.Env(**remote):
            self._open()
        # in bytes: rasterio hands GDAL_CACHEMAX to GDALSetCacheMax64, so a plain 64 would be
        # 64 bytes, no cache at all (rasterio/rasterio#2336)
        self._env = rasterio.Env(GDAL_CACHEMAX=block_cache_bytes(self._datasets()), **remote)
        self._env.__enter__()
        return self

    def _open(self) -> None:
        for file, _ in self.scene.bands:
            if file not in self._files:
                self._files[file] = rasterio.open(file)
        if self.scene.mask is not None:
            self._mask_src = rasterio.open(self.scene.mask.file)
            self._mask = WarpedVRT(  # the mask on the scene's grid, nearest: classes stay
                self._mask_src,
                crs=self.scene.crs,
                transform=self.scene.transform,
                width=self.scene.width,
                height=self.scene.height,
                resampling=Resampling.nearest,
            )

    def __exit__(self, *exc) -> None:
        for src in self._files.values():
            src.close()
        self._files.clear()
        if self.scene.mask is not None:
            self._mask.close()
            self._mask_src.close()
        if self._env is not None:
            self._env.__exit__(*exc)
            self._env = None

    def _datasets(self) -> list:
        mask = [self._mask_src, self._mask] if self.scene.mask is not None else []
        return [*self._files.values(), *mask]

    def masked(self, window: Window) -> np.ndarray:
        """A ``(h, w)`` bool array: True where the product's mask says not to classify."""
        mask = self.scene.mask
        if mask is None:
            return np.zeros((int(window.height), int(window.width)), dtype=bool)
        values = self._mask.read(window=window, boundless=False)
        if mask.kind == "scl":
            return np.isin(values[0], mask.masked_values)
        return (values != 0).any(axis=0)

    def _groups(self) -> list[tuple[rasterio.io.DatasetReader, list[int]]]:
        groups: dict[str, list[int]] = {}
        for file, index in self.scene.bands:
            groups.setdefault(file, []).append(index)
        return [(self._files[file], indexes) for file, indexes in groups.items()]

    def read(
        self, window: Window | None = None, out_shape: tuple[int, int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(3, h, w)`` values in the file's type and a ``(h, w)`` bool valid mask: a pixel is
        nodata when every band of it is (GDAL's per-band masks). ``out_shape`` decimates."""
        values, masks = [], []
        kwargs = {"window": window}
        if out_shape is not None:
            kwargs["resampling"] = Resampling.nearest
        for src, indexes in self._groups():
            shape = None if out_shape is None else (len(indexes), *out_shape)
            values.append(src.read(indexes, out_shape=shape, **kwargs))
            if self.scene.has_mask:
                masks.append(src.read_masks(indexes, out_shape=shape, **kwargs))
        stacked = np.concatenate(values) if len(values) > 1 else values[0]
        if masks:
            valid = np.concatenate(masks).any(axis=0)
        else:
            valid = np.ones(stacked.shape[1:], dtype=bool)
        return stacked, valid

    def preview(self, max_side: int) -> tuple[np.ndarray, np.ndarray]:
        """The whole scene decimated so its longer side is at most ``max_side`` pixels."""
        scale = max(1.0, max(self.scene.width, self.scene.height) / max_side)
        shape = (max(1, round(self.scene.height / scale)), max(1, round(self.scene.width / scale)))
        return self.read(out_shape=shape)
