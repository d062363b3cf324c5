"""LandUseSourceDataset: a land-use map with the confidence map beside it, or a scene to map."""

from __future__ import annotations

import numpy as np
import pytest
from kedro.io import DatasetError

from eurosat_kedro.datasets import GeoTiffDataset, LandUseSourceDataset
from eurosat_kedro.mapping import Scene
from eurosat_kedro.mapping.change import LandUseMap, change_map
from tests.mapping.conftest import write_tif
from tests.mapping.test_change import landuse


def _write_map(folder, prefix: str = "", confidence: bool = True):
    date = landuse([[0, 1], [2, 254]], source="x")
    folder.mkdir(parents=True, exist_ok=True)
    GeoTiffDataset(str(folder / f"{prefix}landuse_map.tif")).save(date.class_map)
    if confidence:
        GeoTiffDataset(str(folder / f"{prefix}landuse_confidence.tif")).save(date.confidence)
    return folder / f"{prefix}landuse_map.tif"


@pytest.mark.parametrize("prefix", ["", "2021_"])
def test_a_land_use_map_comes_with_the_confidence_map_beside_it(tmp_path, prefix):
    loaded = LandUseSourceDataset(str(_write_map(tmp_path, prefix))).load()
    assert isinstance(loaded, LandUseMap)
    assert loaded.class_map.values.tolist() == [[0, 1], [2, 254]]
    assert loaded.confidence.values[0, 0] == pytest.approx(0.9)
    assert loaded.class_map.classes[1] == "Forest"
    assert loaded.source == str(tmp_path / f"{prefix}landuse_map.tif")


def test_a_confidence_map_elsewhere_is_given_by_its_parameter(tmp_path):
    path = _write_map(tmp_path / "a", confidence=False)
    with pytest.raises(DatasetError, match=r'"change.after_confidence=PATH"'):
        LandUseSourceDataset(str(path), parameter="change.after").load()
    other = _write_map(tmp_path / "b").with_name("landuse_confidence.tif")
    loaded = LandUseSourceDataset(str(path), confidence=str(other)).load()
    assert loaded.confidence.values.shape == (2, 2)


def test_anything_else_is_a_scene_to_map(tmp_path):
    scene = write_tif(tmp_path / "rgb.tif", np.zeros((3, 64, 64), np.uint8))
    assert isinstance(LandUseSourceDataset(str(scene)).load(), Scene)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: None, "change.before is not set: give the two dates"),
        (lambda d: str(d / "missing.tif"), "change.before .*missing.tif.*: no such file"),
        (
            lambda d: str(write_tif(d / "one.tif", np.zeros((1, 64, 64), np.uint8))),
            r"neither a land-use map .* nor a scene to map: .*one.tif has 1 band",
        ),
    ],
)
def test_bad_dates_are_named(tmp_path, make, message):
    with pytest.raises(DatasetError, match=message):
        LandUseSourceDataset(make(tmp_path)).load()


def test_a_change_map_is_not_a_date(tmp_path):
    codes, _ = change_map(landuse([[0, 1]]), landuse([[1, 1]]), None)
    GeoTiffDataset(str(tmp_path / "landuse_change.tif")).save(codes)
    with pytest.raises(DatasetError, match="is a land-use change map"):
        LandUseSourceDataset(str(tmp_path / "landuse_change.tif")).load()
