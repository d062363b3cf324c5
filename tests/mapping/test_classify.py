"""The window grid, the stretch, streaming classification, areas and the GeoTIFF dataset."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
import rasterio
from rasterio import Affine
from rasterio.crs import CRS

from eurosat_kedro.datasets import GeoTiffDataset
from eurosat_kedro.mapping import (
    CLASS_MASKED,
    CLASS_NODATA,
    CLASS_UNCERTAIN,
    GeoGrid,
    SceneReader,
    WindowGrid,
    choose_limits,
    class_areas,
    classify_windows,
    open_scene,
    to_uint8,
)
from tests.mapping.conftest import ORIGIN, colour_logits, painted, write_tif

NONE = {"type": "none", "low": 0.0, "high": 255.0}


def test_grid_covers_the_scene_and_scales_the_transform():
    grid = WindowGrid(width=120, height=200, stride=64)
    assert grid.shape == (4, 2) and grid.inside(120) == 1 and grid.inside(200) == 3
    assert WindowGrid(120, 120, 56).shape == (3, 3) and WindowGrid(120, 120, 56).inside(120) == 2
    assert grid.map_transform(ORIGIN) == ORIGIN @ Affine.scale(64)
    with pytest.raises(ValueError, match="mapping.stride must be a positive"):
        WindowGrid(100, 100, 0)


def test_every_window_gets_the_class_of_its_own_pixels(tmp_path):
    scene = open_scene(write_tif(tmp_path / "s.tif", painted(3, 4)))
    ids, confidence = classify_windows(
        scene, colour_logits, NONE, stride=64, batch_size=5, max_nodata_fraction=0.5
    )
    assert ids.tolist() == np.arange(12).reshape(3, 4).tolist()
    assert (
        confidence == pytest.approx(np.full((3, 4), confidence.max())) and confidence.min() > 0.99
    )


def test_windows_reaching_past_the_edge_are_nodata(tmp_path):
    scene = open_scene(write_tif(tmp_path / "s.tif", painted(2, 2, extra=(30, 40))))
    ids, confidence = classify_windows(scene, colour_logits, NONE, 64, 64, 0.5)
    assert ids.shape == (3, 3)  # ceil(158 / 64), ceil(168 / 64)
    assert ids[:2, :2].tolist() == [[0, 1], [2, 3]]
    assert (ids[2, :] == CLASS_NODATA).all() and (ids[:, 2] == CLASS_NODATA).all()
    assert np.isnan(confidence[2, :]).all() and not np.isnan(confidence[:2, :2]).any()


def test_overlapping_windows_at_a_smaller_stride(tmp_path):
    scene = open_scene(write_tif(tmp_path / "s.tif", painted(1, 2)))  # 64 x 128
    ids, _ = classify_windows(scene, colour_logits, NONE, 32, 64, 0.5)
    # windows at x = 0, 32, 64 are inside; x = 96 reaches past 128; the one at 32 is half/half
    assert ids.shape == (2, 4) and ids[0, [0, 2]].tolist() == [0, 1] and ids[0, 1] in (0, 1)
    assert (ids[0, 3] == CLASS_NODATA) and (ids[1] == CLASS_NODATA).all()


def test_mostly_nodata_windows_are_nodata(tmp_path):
    pixels = painted(1, 3)
    pixels[:, :40, 0:64] = 0  # 62.5% nodata: dropped
    pixels[:, :20, 64:128] = 0  # 31% nodata: classified
    scene = open_scene(write_tif(tmp_path / "s.tif", pixels, nodata=0))
    assert scene.has_mask
    ids, _ = classify_windows(scene, colour_logits, NONE, 64, 64, 0.5)
    assert ids.tolist() == [[CLASS_NODATA, 1, 2]]
    ids, _ = classify_windows(scene, colour_logits, NONE, 64, 64, 0.7)
    assert ids[0, 0] != CLASS_NODATA


def test_reads_one_strip_of_windows_at_a_time(tmp_path, monkeypatch):
    scene = open_scene(write_tif(tmp_path / "s.tif", painted(4, 3, extra=(10, 10))))
    shapes = []
    original = SceneReader.read

    def spy(self, window=None, out_shape=None):
        shapes.append((window.height, window.width))
        return original(self, window, out_shape)

    monkeypatch.setattr(SceneReader, "read", spy)
    classify_windows(scene, colour_logits, NONE, 64, 4, 0.5)
    assert shapes == [(64, 192)] * 4


def test_the_model_gets_whole_batches_but_the_last(tmp_path):
    scene = open_scene(write_tif(tmp_path / "s.tif", painted(4, 3)))  # 3 windows a row
    sizes = []

    def logits(tiles):
        sizes.append(len(tiles))
        return colour_logits(tiles)

    ids, _ = classify_windows(scene, logits, NONE, 64, 5, 0.5)
    assert sizes == [5, 5, 2]  # what waits for a whole batch keeps its place in the map
    assert ids.ravel().tolist() == list(range(12))


def test_linear_percentile_none_and_auto_stretches():
    values = np.array([[[0, 1500, 3000, 6000]]] * 3, np.uint16)
    linear = choose_limits({"type": "linear", "min": 0, "max": 3000}, "uint16")
    assert to_uint8(values, linear)[0, :, 0].tolist() == [0, 128, 255, 255]
    assert choose_limits({"type": "auto"}, "uint16", offset=0)["high"] == 2750  # EuroSAT's
    assert choose_limits({"type": "auto"}, "uint8")["type"] == "none"
    rgb = np.arange(12, dtype=np.uint8).reshape(3, 2, 2)
    assert (to_uint8(rgb, NONE) == rgb.transpose(1, 2, 0)).all()
    sample = np.arange(300, dtype=np.uint16).reshape(3, 10, 10)
    limits = choose_limits({"type": "percentile", "percentiles": [0, 100]}, "uint16", sample)
    assert (limits["low"], limits["high"]) == (0, 299)
    with pytest.raises(ValueError, match="is uint16, not uint8: set mapping.stretch.type"):
        choose_limits({"type": "none"}, "uint16")
    with pytest.raises(ValueError, match="must be above min"):
        choose_limits({"type": "linear", "min": 10, "max": 5}, "uint16")


MAP_ORIGIN = ORIGIN @ Affine.scale(64)


def _grid(crs, transform=MAP_ORIGIN) -> GeoGrid:
    values = np.array([[0, 0, 1], [2, CLASS_NODATA, 0]], np.uint8)
    return GeoGrid(
        values, transform, crs, CLASS_NODATA, classes=["A", "B", "C"], tags={"stride": "64"}
    )


def test_masked_and_uncertain_windows_are_counted_apart_from_the_classes():
    grid = _grid(CRS.from_epsg(32633))
    grid.values[0, 0], grid.values[0, 1] = CLASS_MASKED, CLASS_UNCERTAIN
    areas = class_areas(grid).set_index("class")
    assert areas["windows"].tolist() == [1, 1, 1, 1, 1]
    assert areas.loc[["A", "B", "C"], "share"].sum() == pytest.approx(1)
    assert areas.loc["masked", "area_km2"] == pytest.approx(0.64 * 0.64)
    assert np.isnan(areas.loc["masked", "share"])


def test_areas_in_km2_on_a_projected_crs():
    areas = class_areas(_grid(CRS.from_epsg(32633))).set_index("class")
    assert areas["windows"].tolist() == [3, 1, 1, 0, 0]  # A, B, C, masked, uncertain
    assert areas["area_km2"]["A"] == pytest.approx(3 * 0.64 * 0.64)
    assert areas["pixels"]["A"] == 3 * 64 * 64 and areas["share"].sum() == pytest.approx(1)


@pytest.mark.parametrize("crs", [None, CRS.from_epsg(4326)])
def test_areas_without_a_projected_crs_are_in_pixels_with_a_warning(crs, caplog):
    with caplog.at_level(logging.WARNING):
        areas = class_areas(_grid(crs, Affine.scale(64)))
    assert areas["area_km2"].isna().all()
    assert areas["pixels"].tolist() == [3 * 4096, 4096, 4096, 0, 0]
    assert "areas are in windows and scene pixels only" in caplog.text


def test_geotiff_dataset_round_trip_keeps_crs_classes_and_colours(tmp_path):
    grid = _grid(CRS.from_epsg(32633))
    grid.colormap = {0: (255, 0, 0, 255), 1: (0, 255, 0, 255), 2: (0, 0, 255, 255)}
    dataset = GeoTiffDataset(str(tmp_path / "out" / "map.tif"))
    dataset.save(grid)
    loaded = dataset.load()
    assert loaded.values.tolist() == grid.values.tolist() and loaded.crs == grid.crs
    assert loaded.transform == grid.transform and loaded.nodata == CLASS_NODATA
    assert loaded.classes == ["A", "B", "C"] and loaded.colormap == grid.colormap
    assert loaded.tags["stride"] == "64"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["map.tif"]


def test_a_failed_geotiff_write_leaves_nothing(tmp_path):
    dataset = GeoTiffDataset(str(tmp_path / "map.tif"))
    bad = GeoGrid(np.zeros((2, 2), np.float16), ORIGIN, None, math.nan)  # GDAL has no float16
    with pytest.raises(Exception):  # noqa: B017 - whatever rasterio raises
        dataset.save(bad)
    assert list(tmp_path.iterdir()) == []


def test_maps_are_cloud_optimized_geotiffs_with_overviews_of_the_most_frequent_class(tmp_path):
    values = np.zeros((600, 600), np.uint8)
    values[:, 300:] = 2  # two halves: each overview pixel is one class, never a blend
    grid = GeoGrid(values, MAP_ORIGIN, CRS.from_epsg(32633), CLASS_NODATA, "ids", ["A", "B", "C"])
    path = tmp_path / "map.tif"
    GeoTiffDataset(filepath=str(path)).save(grid)
    with rasterio.open(path) as src:
        assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"  # GDAL's own COG check
        assert src.block_shapes == [(256, 256)] and src.overviews(1) == [2, 4]
        overview = src.read(1, out_shape=(150, 150))
    assert set(np.unique(overview)) == {0, 2}
    assert [p.name for p in tmp_path.iterdir()] == ["map.tif"]
