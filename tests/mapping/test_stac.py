"""STAC of land-use maps: an item names a product of an ItemCollection by its id, and the
Collection of many maps links them and spans them (valid against STAC's own schema)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pystac
from pystac.validation import validate_dict
from rasterio import Affine
from rasterio.crs import CRS

from eurosat_kedro.mapping import CLASS_NODATA, GeoGrid
from eurosat_kedro.mapping.stac import MAPS_COLLECTION_ID, map_item, maps_collection


def _grid(crs: str | None, x: float = 400000) -> GeoGrid:
    transform = Affine.translation(x, 5340000) @ Affine.scale(640, -640)
    return GeoGrid(
        np.zeros((3, 4), np.uint8),
        transform,
        CRS.from_string(crs) if crs else None,
        CLASS_NODATA,
        classes=["A", "B"],
        tags={"stride": "64"},
    )


def test_an_item_collection_member_is_named_by_its_item_id(tmp_path: Path):
    item_id = "S2B_MSIL2A_20240601T101031_R022_T33UUU_20240602T005512"  # Planetary Computer's
    item = map_item(_grid("EPSG:32633"), f"{tmp_path}/search.json#{item_id}", {"model_uri": "m"})
    assert item.id == f"landuse-{item_id}"
    link = item.get_single_link("derived_from").href
    assert link == f"{(tmp_path / 'search.json').as_uri()}#{item_id}"
    assert item.datetime.date().isoformat() == "2024-06-01"


def test_the_model_is_described_by_eurosat_properties_and_the_item_stays_valid():
    model = {
        "model_uri": "models:/eurosat-landuse@champion",
        "precision": "fp32",
        "model_version": "3",
        "model_test_accuracy": 0.9812,
        "model_test_accuracy_ci": [0.9771, 0.9846],
    }
    item = map_item(_grid("EPSG:32633"), "S2B_MSIL1C_20240601T101031_N0509.SAFE", model)
    assert {k: v for k, v in item.properties.items() if k.startswith("eurosat:model")} == {
        f"eurosat:{key}": value for key, value in model.items() if key.startswith("model")
    }
    assert item.properties["eurosat:precision"] == "fp32"
    loaded = pystac.Item.from_dict(json.loads(json.dumps(item.to_dict())))
    assert loaded.properties["eurosat:model_test_accuracy_ci"] == [0.9771, 0.9846]
    validate_dict({**item.to_dict(), "stac_extensions": []})  # the core schema: offline


def test_the_collection_links_every_map_and_spans_their_footprints_and_dates():
    made = datetime(2026, 1, 1, tzinfo=timezone.utc)
    items = [
        map_item(_grid("EPSG:32633"), "S2B_MSIL1C_20240601T101031_N0509.SAFE", {}, made),
        map_item(_grid("EPSG:32633", 500000), "S2B_MSIL1C_20240901T101031_N0509.SAFE", {}, made),
        map_item(_grid(None), "plain.tif", {}, made),  # no CRS: in no footprint
    ]
    collection = maps_collection([(f"./{i.id}/landuse_map.stac.json", i.to_dict()) for i in items])
    assert collection.id == MAPS_COLLECTION_ID
    assert [link.href for link in collection.get_links("item")] == [
        f"./{i.id}/landuse_map.stac.json" for i in items
    ]
    (west, south, east, north) = collection.extent.spatial.bboxes[0]
    assert west == min(i.bbox[0] for i in items[:2]) and east == max(i.bbox[2] for i in items[:2])
    assert 13.5 < west < east < 15.1 and 48 < south < north < 48.3
    start, end = collection.extent.temporal.intervals[0]
    assert (start.date().isoformat(), end.date().isoformat()) == ("2024-06-01", "2026-01-01")
    collection.validate()  # against the core schema pystac ships (no extension: offline)


def test_a_collection_of_no_map_is_still_valid():
    collection = maps_collection([])
    assert not collection.get_links("item") and collection.extent.spatial.bboxes[0][0] == -180
    collection.validate()
    assert pystac.Collection.from_dict(collection.to_dict()).id == MAPS_COLLECTION_ID
