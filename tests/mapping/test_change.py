"""Land-use change on small hand-made maps: codes, reasons not to compare, transitions, grids
brought together, the report, the STAC item and the picture."""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import pystac
import pytest
import rasterio
from pystac.extensions.classification import ClassificationExtension
from rasterio import Affine
from rasterio.crs import CRS

from eurosat_kedro.datasets import GeoTiffDataset
from eurosat_kedro.mapping import CLASS_MASKED, CLASS_NODATA, CLASS_UNCERTAIN, GeoGrid
from eurosat_kedro.mapping.change import (
    CHANGE_LOW_CONFIDENCE,
    ChangeError,
    LandUseMap,
    align,
    change_map,
    change_report,
    check_comparable,
    check_min_confidence,
    code_names,
    decode,
    transition_matrix,
    transitions,
)
from eurosat_kedro.mapping.render import _outline, change_figure
from eurosat_kedro.mapping.stac import change_item
from tests.conftest import CLASSES
from tests.mapping.conftest import ORIGIN, UTM33

CELL = ORIGIN @ Affine.scale(64)  # 640 m cells
M, U, N = CLASS_MASKED, CLASS_UNCERTAIN, CLASS_NODATA


def landuse(ids, confidence=None, transform=CELL, crs=UTM33, source="before.tif") -> LandUseMap:
    ids = np.array(ids, np.uint8)
    if confidence is None:
        confidence = np.where((ids < len(CLASSES)) | (ids == U), 0.9, np.nan)
    crs = CRS.from_string(crs) if crs else None
    tags = {"model_uri": "models:/m/1", "scene": source}
    return LandUseMap(
        GeoGrid(ids, transform, crs, CLASS_NODATA, classes=list(CLASSES), tags=tags),
        GeoGrid(np.asarray(confidence, np.float32), transform, crs, np.nan),
        source,
    )


def test_each_cell_gets_its_change_code_and_the_lower_confidence():
    before = landuse([[0, 1, 2, 9], [3, U, M, 4]], [[0.9, 0.8, 0.7, 0.6], [0.9, 0.3, np.nan, 0.5]])
    after = landuse(
        [[0, 2, 5, 9], [N, 1, 1, M]], [[0.5, 0.6, 0.9, 0.9], [np.nan, 0.9, 0.9, np.nan]]
    )
    codes, confidence = change_map(before, after, None)
    assert codes.values.tolist() == [[100, 12, 25, 109], [N, U, M, M]]
    assert codes.values.dtype == np.uint8 and codes.nodata == CLASS_NODATA
    expected = [[0.5, 0.6, 0.7, 0.6], [np.nan, 0.3, np.nan, np.nan]]
    np.testing.assert_allclose(confidence.values, expected)
    assert confidence.values.dtype == np.float32 and math.isnan(confidence.nodata)
    assert codes.transform == CELL and codes.crs == before.class_map.crs
    assert json.loads(codes.tags["codes"])["12"] == "Forest_to_HerbaceousVegetation"
    assert json.loads(codes.tags["landuse_classes"]) == CLASSES
    assert codes.tags["before"] == "before.tif" and codes.colormap[12][3] == 255


def test_nodata_wins_over_masked_over_uncertain_over_low_confidence():
    before = landuse([[N, M, U, 1, 1]], [[np.nan, np.nan, 0.9, 0.2, 0.9]])
    after = landuse([[M, U, 1, 1, 2]], [[np.nan, 0.9, 0.9, 0.9, 0.9]])
    codes, _ = change_map(before, after, 0.5)
    assert codes.values.tolist() == [[N, M, U, CHANGE_LOW_CONFIDENCE, 12]]


def test_min_confidence_takes_cells_below_it_on_either_date_out():
    before = landuse([[1, 1, 1]], [[0.9, 0.49, 0.5]])
    after = landuse([[2, 2, 2]], [[0.49, 0.9, 0.5]])
    assert change_map(before, after, 0.5)[0].values.tolist() == [[252, 252, 12]]
    assert change_map(before, after, None)[0].values.tolist() == [[12, 12, 12]]
    report = change_report(before, after, change_map(before, after, 0.5)[0], 0.5)
    assert report["before"]["low_confidence"] == 1 and report["after"]["low_confidence"] == 1
    assert report["not_comparable"]["low_confidence"] == 2 and report["cells_compared"] == 1


def test_codes_decode_back_to_every_pair_of_classes():
    n = len(CLASSES)
    was, now = (a.ravel() for a in np.indices((n, n)))
    codes, _ = change_map(landuse([was]), landuse([now]), None)
    compared, before, after = decode(codes.values, n)
    assert compared.all() and before.ravel().tolist() == was.tolist()
    assert after.ravel().tolist() == now.tolist()
    assert transition_matrix(codes.values, n).tolist() == np.ones((n, n), int).tolist()
    assert len(set(codes.values.ravel().tolist())) == n * n  # one code per pair
    names = code_names(CLASSES)
    assert len(names) == n * n + 4 and names[103] == "Highway_unchanged"
    assert [names[v] for v in (252, 253, 254, 255)] == [
        "low_confidence",
        "uncertain",
        "masked",
        "nodata",
    ]


def test_transitions_count_compared_cells_only_in_long_form():
    before = landuse([[0, 0, 1, M], [1, U, 2, 2]])
    after = landuse([[0, 1, 1, 0], [0, 0, N, 2]])
    codes, _ = change_map(before, after, None)
    table = transitions(codes, CLASSES)
    assert list(table.columns) == ["from_class", "to_class", "cells", "area_km2"]
    assert len(table) == 100 and table["cells"].sum() == 5
    counts = table.set_index(["from_class", "to_class"])["cells"].to_dict()
    assert counts[("AnnualCrop", "AnnualCrop")] == 1 and counts[("AnnualCrop", "Forest")] == 1
    assert counts[("Forest", "Forest")] == 1 and counts[("Forest", "AnnualCrop")] == 1
    assert counts[("HerbaceousVegetation", "HerbaceousVegetation")] == 1
    assert table["area_km2"].sum() == pytest.approx(5 * 0.64 * 0.64)


def test_the_report_counts_reasons_per_date_and_the_changed_share():
    before = landuse([[0, 0, 1, M], [1, U, 2, 2]])
    after = landuse([[0, 1, 1, 0], [0, 0, N, 2]])
    codes, _ = change_map(before, after, None)
    report = change_report(before, after, codes, None)
    assert report["cells"] == 8 and report["cells_compared"] == 5 and report["cells_changed"] == 2
    assert report["changed_share"] == pytest.approx(0.4)
    assert report["not_comparable"] == {"nodata": 1, "masked": 1, "uncertain": 1,
                                        "low_confidence": 0}  # fmt: skip
    assert report["before"] == {"source": "before.tif", "model_uri": "models:/m/1",
                                "classified": 6, "nodata": 0, "masked": 1, "uncertain": 1,
                                "low_confidence": 0}  # fmt: skip
    assert report["after"]["nodata"] == 1 and report["after"]["classified"] == 7
    assert report["km2_per_cell"] == pytest.approx(0.4096) and report["crs"] == UTM33
    assert report["area_changed_km2"] == pytest.approx(2 * 0.4096)
    json.dumps(report, allow_nan=False)  # plain JSON


def test_maps_without_a_crs_report_no_areas():
    before = landuse([[1, 2]], crs=None, transform=Affine.identity())
    report = change_report(before, before, change_map(before, before, None)[0], None)
    assert report["km2_per_cell"] is None and report["area_compared_km2"] is None
    json.dumps(report, allow_nan=False)


def test_the_same_grid_is_compared_as_it_is():
    before, after = landuse([[1, 2]]), landuse([[3, 4]], source="after.tif")
    assert align(after, before) is after


def test_a_shifted_grid_is_brought_onto_the_earlier_one(caplog):
    caplog.set_level(logging.INFO, "eurosat_kedro.mapping.change")
    before = landuse([[0, 1, 2], [3, 4, 5]])
    # one cell to the east: the after map's column c lies over the before map's column c + 1
    east = Affine.translation(640, 0) @ CELL
    after = landuse([[6, 7, 8], [9, 0, 1]], transform=east, source="after.tif")
    aligned = align(after, before)
    assert aligned.class_map.values.tolist() == [[N, 6, 7], [N, 9, 0]]
    assert np.isnan(aligned.confidence.values[:, 0]).all()
    assert aligned.confidence.values[:, 1:] == pytest.approx(0.9)
    assert aligned.class_map.transform == CELL and "resampled_from" in aligned.class_map.tags
    assert "after.tif" in caplog.text and "resampled onto the latter (nearest)" in caplog.text


def test_a_finer_grid_in_another_crs_is_resampled_with_nearest():
    ids = np.array([[0, 1, 2], [3, 4, 5]], np.uint8)
    before = landuse(ids)
    after = landuse(np.kron(ids, np.ones((2, 2), np.uint8)), transform=ORIGIN @ Affine.scale(32))
    assert align(after, before).class_map.values.tolist() == ids.tolist()
    # the same place in UTM 32N (6 degrees west): cells land where the rotation puts them
    west, south, east, north = rasterio.transform.array_bounds(2, 3, CELL)
    (x,), (y,) = rasterio.warp.transform(UTM33, "EPSG:32632", [west], [north])
    utm32 = landuse(ids, transform=Affine.translation(x, y) @ Affine.scale(640, -640),
                    crs="EPSG:32632", source="after.tif")  # fmt: skip
    values = align(utm32, before).class_map.values
    # expected: the UTM 32N cell under each UTM 33N cell's centre
    rows, cols = np.indices(ids.shape)
    centres = (v.ravel() for v in CELL @ (cols + 0.5, rows + 0.5))
    xs, ys = (np.array(v) for v in rasterio.warp.transform(UTM33, "EPSG:32632", *centres))
    col, row = (np.floor(v).astype(int) for v in ~utm32.class_map.transform @ (xs, ys))
    inside = (row >= 0) & (row < 2) & (col >= 0) & (col < 3)
    expected = np.where(inside, ids[row.clip(0, 1), col.clip(0, 2)], N)
    assert values.tolist() == expected.reshape(ids.shape).tolist() and inside.sum() >= 3


def test_maps_that_do_not_overlap_are_an_error_naming_both():
    before = landuse([[0, 1]])
    far = Affine.translation(100_000, 0) @ CELL
    after = landuse([[0, 1]], transform=far, source="elsewhere/landuse_map.tif")
    with pytest.raises(ChangeError) as error:
        align(after, before)
    message = str(error.value)
    assert "elsewhere/landuse_map.tif (EPSG:32633, bounds 500000.0, 5339360.0, 501280" in message
    assert "does not overlap before.tif (EPSG:32633, bounds 400000.0," in message
    touching = landuse([[0, 1]], transform=Affine.translation(1280, 0) @ CELL)
    with pytest.raises(ChangeError, match="does not overlap"):
        align(touching, before)


def test_a_map_without_crs_on_another_grid_cannot_be_aligned():
    before = landuse([[0, 1]])
    after = landuse([[0, 1]], crs=None, transform=Affine.identity(), source="plain.tif")
    with pytest.raises(ChangeError, match=r"plain.tif \(no CRS.*georeference the scene"):
        align(after, before)


def test_maps_of_other_classes_or_values_are_refused_and_other_models_noted(caplog):
    before = landuse([[0, 1]])
    other = LandUseMap(
        GeoGrid(np.zeros((1, 2), np.uint8), CELL, None, N, classes=["a", "b"]),
        GeoGrid(np.zeros((1, 2), np.float32), CELL, None, np.nan),
        "other.tif",
    )
    with pytest.raises(ChangeError, match="before.tif has the classes .* and other.tif"):
        check_comparable(before, other)
    with pytest.raises(ChangeError, match=r"odd.tif holds the values \[12, 40\], neither"):
        check_comparable(before, landuse([[12, 40]], source="odd.tif"))
    other_model = landuse([[0, 1]], source="after.tif")
    other_model.class_map.tags["model_uri"] = "models:/m/2"
    check_comparable(before, other_model)
    assert "and after.tif by models:/m/2: part of what changes" in caplog.text
    with pytest.raises(ChangeError, match="confidence map of x.tif .* is not on the grid"):
        LandUseMap(before.class_map, GeoGrid(np.zeros((3, 3)), CELL, None, np.nan), "x.tif")


@pytest.mark.parametrize(
    ("value", "expected"), [(None, None), (0.5, 0.5), ("0.25", 0.25), (0, 0.0)]
)
def test_min_confidence_is_null_or_a_probability(value, expected):
    assert check_min_confidence(value) == expected


@pytest.mark.parametrize(("value", "message"), [(1.5, r"in \[0, 1\]"), ("high", "null or a")])
def test_other_min_confidence_values_are_refused(value, message):
    with pytest.raises(ChangeError, match=f"change.min_confidence must be {message}"):
        check_min_confidence(value)


def test_the_change_map_is_a_cog_with_codes_colours_and_tags(tmp_path):
    codes, confidence = change_map(landuse([[0, 1], [M, 2]]), landuse([[1, 1], [0, N]]), None)
    GeoTiffDataset(str(tmp_path / "landuse_change.tif")).save(codes)
    GeoTiffDataset(str(tmp_path / "landuse_change_confidence.tif")).save(confidence)
    with rasterio.open(tmp_path / "landuse_change.tif") as src:
        assert src.read(1).tolist() == [[1, 101], [M, N]] and src.nodata == N
        assert src.tags()["value_low_confidence"] == "252" and "codes" in src.tags()
        assert src.colormap(1)[101][:3] != src.colormap(1)[1][:3]  # unchanged paler
        assert "from*10+to" in src.descriptions[0]
    with rasterio.open(tmp_path / "landuse_change_confidence.tif") as src:
        assert src.dtypes[0] == "float32" and math.isnan(src.nodata)


def test_changed_areas_are_outlined_on_cell_borders():
    one = np.zeros((3, 3), bool)
    one[1, 1] = True
    segments = _outline(one, Affine.identity())
    assert sorted(map(tuple, segments.reshape(-1, 4).tolist())) == [
        (1, 1, 1, 2), (1, 1, 2, 1), (1, 2, 2, 2), (2, 1, 2, 2)]  # fmt: skip
    two = np.zeros((2, 3), bool)
    two[0, :2] = True
    assert len(_outline(two, Affine.identity())) == 6


def test_the_figure_shows_both_maps_and_the_transitions():
    before, after = landuse([[0, 1], [M, 2]]), landuse([[1, 1], [0, 2]])
    codes, _ = change_map(before, after, None)
    compared, was, now = decode(codes.values, 10)
    fig = change_figure(
        before.class_map,
        after.class_map,
        compared & (was != now),
        transition_matrix(codes.values, 10),
        ("before", "after"),
        "test",
    )
    assert len(fig.axes) == 4  # two maps, the heatmap, its colour bar
    assert [text.get_text() for text in fig.axes[2].texts] == ["1", "1", "1"]
    assert fig.axes[2].get_xticklabels()[0].get_text() == "AnnualCrop"


def test_the_stac_item_spans_both_dates_and_links_both_inputs(tmp_path):
    codes, _ = change_map(landuse([[0, 1]]), landuse([[1, 1]]), 0.3)
    dates = {
        "before": [str(tmp_path / "a.tif"), "T33UUU_20170216T102101_B04.jp2"],
        "after": [str(tmp_path / "b.tif"), "T33UUU_20220601T101031_B04.jp2"],
    }
    item = pystac.Item.from_dict(change_item(codes, dates, CLASSES).to_dict())
    assert item.datetime is None
    assert item.properties["start_datetime"].startswith("2017-02-16")
    assert item.properties["end_datetime"].startswith("2022-06-01")
    links = [link.href for link in item.links if link.rel == "derived_from"]
    assert links == [(tmp_path / "a.tif").as_uri(), (tmp_path / "b.tif").as_uri()]
    assert item.properties["eurosat:min_confidence"] == 0.3
    classes = ClassificationExtension.ext(item.assets["landuse_change"]).classes
    by_value = {c.value: c for c in classes}
    assert len(classes) == 104 and by_value[1].title == "AnnualCrop -> Forest"
    assert by_value[N].nodata and by_value[101].name == "Forest_unchanged"
    assert set(item.assets) >= {"landuse_change", "landuse_transitions", "preview"}
    undated = change_item(codes, {"before": ["a.tif"], "after": ["b.tif"]}, CLASSES)
    assert undated.datetime is not None and "start_datetime" not in undated.properties
    assert undated.properties["eurosat:before_model_uri"] == "models:/m/1"


def test_the_change_item_names_each_dates_model_as_its_map_item_does():
    before = landuse([[0, 1]])
    after = landuse([[1, 1]], source="after.tif")
    after.class_map.tags.update(
        model_uri="models:/m/2",
        precision="int8",
        model_version="2",
        model_test_accuracy="0.9751",
        model_test_accuracy_ci="[0.9695, 0.9793]",
    )
    codes, _ = change_map(before, after, None)
    assert codes.tags["after_model_version"] == "2" and "before_model_version" not in codes.tags
    item = change_item(codes, {"before": ["a.tif"], "after": ["b.tif"]}, CLASSES)
    models = {k: v for k, v in item.properties.items() if "_model" in k or "precision" in k}
    assert models == {
        "eurosat:before_model_uri": "models:/m/1",
        "eurosat:after_model_uri": "models:/m/2",
        "eurosat:after_precision": "int8",
        "eurosat:after_model_version": "2",
        "eurosat:after_model_test_accuracy": 0.9751,
        "eurosat:after_model_test_accuracy_ci": [0.9695, 0.9793],
    }
