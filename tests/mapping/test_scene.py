"""Opening scenes: RGB files, band indexes, Sentinel-2 band files, and every bad input."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from eurosat_kedro.mapping import SceneError, open_scene, parse_bands
from eurosat_kedro.mapping.scene import MIN_BLOCK_CACHE_BYTES
from tests.mapping.conftest import ORIGIN, UTM33, bigearthnet_patch, painted, write_safe, write_tif


@pytest.fixture(scope="module")
def bigearthnet(tmp_path_factory) -> Path:
    return bigearthnet_patch(tmp_path_factory.mktemp("bigearthnet"))


def test_an_rgb_geotiff_opens_from_its_header(tmp_path):
    scene = open_scene(write_tif(tmp_path / "s.tif", painted(2, 3)))
    assert (scene.width, scene.height, scene.dtype) == (192, 128, "uint8")
    assert scene.crs.to_string() == UTM33 and scene.transform.a == 10
    assert [i for _, i in scene.bands] == [1, 2, 3] and not scene.has_mask


def test_band_indexes_pick_rgb_from_a_multiband_file(tmp_path):
    bands = np.stack([np.full((64, 64), v, np.uint16) for v in (10, 20, 30, 40)])
    path = write_tif(tmp_path / "s2.tif", bands)
    scene = open_scene(path, "4 3 2")
    with scene.reader() as reader:
        values, valid = reader.read()
    assert values[:, 0, 0].tolist() == [40, 30, 20] and valid.all()
    assert [i for _, i in open_scene(path, [3, 2, 1]).bands] == [3, 2, 1]


def test_sentinel2_band_files_of_a_real_bigearthnet_patch(bigearthnet):
    by_folder = open_scene(bigearthnet, "B04 B03 B02")
    by_file = open_scene(next(bigearthnet.glob("*_B08.tif")), ["B04", "B03", "B02"])
    assert by_folder == by_file
    assert [Path(f).stem.rsplit("_", 1)[1] for f, _ in by_folder.bands] == ["B04", "B03", "B02"]
    assert (by_folder.width, by_folder.height, by_folder.dtype) == (120, 120, "uint16")
    assert by_folder.crs.is_projected and by_folder.transform.a == 10
    with by_folder.reader() as reader:
        values, _ = reader.read()
    assert values.shape == (3, 120, 120) and values.max() > 255


def test_bands_of_another_resolution_are_refused(bigearthnet):
    with pytest.raises(SceneError, match=r"_B05.tif \(60x60 px.*is not on the grid.*B04 B03 B02"):
        open_scene(bigearthnet, "B04 B03 B05")


def test_a_missing_band_file_is_named(bigearthnet, tmp_path):
    with pytest.raises(SceneError, match=r"missing band file: no .*\*_B99.tif for band B99"):
        open_scene(bigearthnet, "B04 B03 B99")


def test_two_patches_in_one_folder_need_a_band_file_to_pick_one(tmp_path):
    for patch in ("a", "b"):
        for band in ("B04", "B03", "B02"):
            write_tif(tmp_path / f"{patch}_{band}.tif", np.ones((1, 64, 64), np.uint16))
    with pytest.raises(SceneError, match="2 files for band B04.*give one band file"):
        open_scene(tmp_path, "B04 B03 B02")
    assert Path(open_scene(tmp_path / "b_B02.tif", "B04 B03 B02").name).name == "b_B04.tif"


def test_not_a_raster_is_named(tmp_path):
    path = tmp_path / "notes.tif"
    path.write_text("not a raster")
    with pytest.raises(SceneError, match=f"{path} is not a raster that rasterio can open"):
        open_scene(path)


@pytest.mark.parametrize("count", [1, 4])
def test_a_wrong_band_count_says_how_to_pick_bands(tmp_path, count):
    path = write_tif(tmp_path / "s.tif", np.zeros((count, 64, 64), np.uint8))
    with pytest.raises(SceneError, match=f"{path} has {count} band.*mapping.bands"):
        open_scene(path)


def test_a_band_index_past_the_file_is_named(tmp_path):
    path = write_tif(tmp_path / "s.tif", np.zeros((3, 64, 64), np.uint8))
    with pytest.raises(SceneError, match=r"has 3 band\(s\): band index\(es\) \[4\]"):
        open_scene(path, "4 3 2")


def test_a_scene_smaller_than_one_window_is_refused(tmp_path):
    path = write_tif(tmp_path / "small.tif", np.zeros((3, 50, 200), np.uint8))
    with pytest.raises(SceneError, match=f"{path} is 200x50 px, smaller than one 64x64 window"):
        open_scene(path)


def test_missing_scene_parameter_folder_and_path(tmp_path):
    with pytest.raises(SceneError, match='"mapping.scene=PATH"'):
        open_scene(None)
    with pytest.raises(SceneError, match="no such file or folder"):
        open_scene(tmp_path / "nope.tif")
    with pytest.raises(SceneError, match="is a folder.*mapping.bands=B04 B03 B02"):
        open_scene(tmp_path)


def test_no_crs_is_a_warning(tmp_path, caplog):
    path = write_tif(tmp_path / "plain.tif", painted(1, 1), crs=None)
    with caplog.at_level(logging.WARNING):
        scene = open_scene(path)
    assert scene.crs is None
    assert f"{path} has no CRS" in caplog.text and "areas are given in pixels" in caplog.text


@pytest.mark.parametrize(
    "bands, expected",
    [
        (None, None),
        ("B04 B03 B02", ["B04", "B03", "B02"]),
        ("4 3 2", [4, 3, 2]),
        ([4, 3, 2], [4, 3, 2]),
        ("B04;B03;B02", ["B04", "B03", "B02"]),
    ],
)
def test_parse_bands(bands, expected):
    assert parse_bands(bands) == expected


@pytest.mark.parametrize(
    "bands, message", [("B04 B03", "has 2 items"), ("4 B03 B02", "mixes band indexes")]
)
def test_bad_bands_are_named(bands, message):
    with pytest.raises(SceneError, match=message):
        parse_bands(bands)


def test_each_jpeg2000_tile_is_decoded_once_however_many_strips_cross_it(tmp_path, caplog):
    # four 64-row strips cross the single 256 x 256 tile of each band file; GDAL_CACHEMAX=64
    # (rasterio takes bytes) left no block cache: every strip decoded every tile again (12)
    scene = open_scene(write_safe(tmp_path, np.full((3, 256, 256), 1500, np.uint16)))
    caplog.set_level(logging.DEBUG, logger="rasterio._err")
    with rasterio.Env(CPL_DEBUG=True), scene.reader() as reader:
        for y in range(0, 256, 64):
            reader.read(Window(0, y, 256, 64))
    decoded = re.compile(r"Tile \d+/\d+ has been decoded")
    assert sum(bool(decoded.search(r.getMessage())) for r in caplog.records) == 3


def test_the_block_cache_holds_two_rows_of_blocks_of_every_file(tmp_path):
    # 3 uint16 bands in 1024 x 1024 tiles, 6 across: a row of blocks is 36 MiB
    path = tmp_path / "wide.tif"
    profile = dict(driver="GTiff", width=6144, height=64, count=3, dtype="uint16", crs=UTM33)
    tiles = dict(tiled=True, blockxsize=1024, blockysize=1024, compress="deflate")
    with rasterio.open(path, "w", transform=ORIGIN, **profile, **tiles) as dst:
        dst.write(np.zeros((3, 64, 6144), np.uint16))
    before = rasterio.env.get_gdal_config("GDAL_CACHEMAX")
    with open_scene(path).reader():
        assert rasterio.env.get_gdal_config("GDAL_CACHEMAX") == 2 * 3 * 6 * 1024 * 1024 * 2
    with open_scene(write_tif(tmp_path / "small.tif", painted(1, 1))).reader():
        assert rasterio.env.get_gdal_config("GDAL_CACHEMAX") == MIN_BLOCK_CACHE_BYTES
    assert rasterio.env.get_gdal_config("GDAL_CACHEMAX") == before
