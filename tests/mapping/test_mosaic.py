"""VRT mosaics of land-use maps: one per CRS, opened by GDAL (rasterio) and equal to the maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio import Affine
from rasterio.crs import CRS
from rasterio.transform import array_bounds

from eurosat_kedro.datasets import GeoTiffDataset
from eurosat_kedro.mapping import CLASS_MASKED, CLASS_NODATA, GeoGrid, class_colours
from eurosat_kedro.mapping.mosaic import CLASSES_FIELD, group_tiles, mosaic_vrt, tile_of
from eurosat_kedro.mapping.stac import map_item

CLASSES = ["AnnualCrop", "Forest", "SeaLake"]
CELL = 640  # a 64-pixel window of 10 m pixels


def _map(root: Path, name: str, crs: str | None, x: float, y: float, seed: int, cell=CELL):
    """A 3x4 land-use map at (x, y) written as the mapping pipeline writes it; its item."""
    values = np.random.default_rng(seed).integers(0, 3, (3, 4)).astype(np.uint8)
    values[0, 0], values[2, 3] = CLASS_NODATA, CLASS_MASKED
    grid = GeoGrid(
        values,
        Affine.translation(x, y) @ Affine.scale(cell, -cell),
        CRS.from_string(crs) if crs else None,
        CLASS_NODATA,
        "classes",
        CLASSES,
        class_colours(CLASSES),
        {"stride": "64"},
    )
    (root / name).mkdir()
    GeoTiffDataset(str(root / name / "landuse_map.tif")).save(grid)
    return map_item(grid, f"{name}.tif", {"model_uri": "m"}).to_dict(), values


def _vrts(root: Path, maps: dict[str, tuple[dict, np.ndarray]]) -> dict[str, Path]:
    tiles = [tile_of(item, f"{name}/landuse_map.tif") for name, (item, _) in maps.items()]
    classes = next(iter(maps.values()))[0]["assets"]["landuse_map"][CLASSES_FIELD]
    written = {}
    for name, members in group_tiles([t for t in tiles if t is not None]).items():
        written[name] = root / f"{name}.vrt"
        written[name].write_text(mosaic_vrt(members, classes))
    return written


def test_one_vrt_per_crs_holds_every_maps_pixels_where_it_lies(tmp_path: Path):
    maps = {
        "west": _map(tmp_path, "west", "EPSG:32633", 400000, 5340000, 0),
        "east": _map(tmp_path, "east", "EPSG:32633", 400000 + 6 * CELL, 5340000 - CELL, 1),
        "other_zone": _map(tmp_path, "other_zone", "EPSG:32632", 700000, 5200000, 2),
    }
    vrts = _vrts(tmp_path, maps)
    assert sorted(vrts) == ["landuse_map_EPSG_32632", "landuse_map_EPSG_32633"]
    with rasterio.open(vrts["landuse_map_EPSG_32633"]) as src:
        assert src.crs == CRS.from_epsg(32633) and src.shape == (4, 10)
        assert src.transform == Affine.translation(400000, 5340000) @ Affine.scale(CELL, -CELL)
        assert src.nodata == CLASS_NODATA and src.colormap(1)[1] == (30, 110, 40, 255)
        mosaic = src.read(1)
        for name in ("west", "east"):
            item, values = maps[name]
            tile = tile_of(item, "")
            window = src.window(*array_bounds(tile.height, tile.width, tile.transform))
            assert src.read(1, window=window).tolist() == values.tolist(), name
        assert (mosaic[3, :6] == CLASS_NODATA).all() and (mosaic[0, 4:] == CLASS_NODATA).all()
    with rasterio.open(vrts["landuse_map_EPSG_32632"]) as src:
        assert src.read(1).tolist() == maps["other_zone"][1].tolist()


def test_the_later_map_is_on_top_and_its_nodata_lets_the_earlier_show(tmp_path: Path):
    first, values = _map(tmp_path, "first", "EPSG:32633", 400000, 5340000, 0)
    second, on_top = _map(tmp_path, "second", "EPSG:32633", 400000 + CELL, 5340000, 1)
    vrt = _vrts(tmp_path, {"first": (first, values), "second": (second, on_top)})
    with rasterio.open(next(iter(vrt.values()))) as src:
        mosaic = src.read(1)
    assert mosaic[:, 2:5].tolist() == on_top[:, 1:4].tolist()
    assert mosaic[0, 1] == values[0, 1]  # the second map's nodata corner


def test_maps_without_crs_join_no_mosaic_and_strides_get_a_mosaic_each(tmp_path: Path):
    plain, _ = _map(tmp_path, "plain", None, 0, 0, 0)
    assert tile_of(plain, "plain/landuse_map.tif") is None
    coarse, _ = _map(tmp_path, "coarse", "EPSG:32633", 400000, 5340000, 0, cell=2 * CELL)
    fine, _ = _map(tmp_path, "fine", "EPSG:32633", 400000, 5340000, 1)
    groups = group_tiles([tile_of(coarse, "c"), tile_of(fine, "f")])
    assert sorted(groups) == ["landuse_map_EPSG_32633_1280m", "landuse_map_EPSG_32633_640m"]


@pytest.mark.parametrize("shift", [0.5, 1 / 3])
def test_maps_off_the_first_maps_grid_are_placed_by_their_own_corner(tmp_path: Path, shift):
    a, values_a = _map(tmp_path, "a", "EPSG:32633", 400000, 5340000, 0)
    b, values_b = _map(tmp_path, "b", "EPSG:32633", 400000 + (5 + shift) * CELL, 5340000, 1)
    vrt = _vrts(tmp_path, {"a": (a, values_a), "b": (b, values_b)})
    with rasterio.open(next(iter(vrt.values()))) as src:
        assert src.width == 10 and src.read(1)[:, :4].tolist() == values_a.tolist()
