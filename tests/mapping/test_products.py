"""The products of mapping.scenes: globs, lists, text files, ItemCollections, folders of STAC
items; their ids; and what is wrong named."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pystac
import pytest

from eurosat_kedro.mapping.products import (
    MapFolders,
    ProductListError,
    ProductRef,
    list_products,
    product_name,
)

SAFE = "S2B_MSIL1C_20240601T101031_N0509_R022_T33UUU_20240601T101031"


def _item(item_id: str) -> pystac.Item:
    when = datetime(2024, 6, 1, tzinfo=timezone.utc)
    return pystac.Item(item_id, None, None, when, {})


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Two products, a zip of a third and a GeoTIFF (names only: nothing here is opened)."""
    products = tmp_path / "products"
    (products / f"{SAFE}.SAFE").mkdir(parents=True)
    (products / f"{SAFE}.SAFE" / "MTD_MSIL1C.xml").write_text("<xml/>")
    (products / "S2A_MSIL2A_20230821T221941_N0509_R029_T01KAB_20230821T230000.SAFE").mkdir()
    (products / "S2B_MSIL1C_20220101T101031_N0400_R022_T33UUU_20220101T101031.SAFE.zip").touch()
    (products / "scene.tif").touch()
    return products


def test_globs_and_paths_list_each_product_once_named_by_its_product(folder: Path):
    products = list_products(f"{folder}/*.SAFE {folder}/scene.tif {folder}/{SAFE}.SAFE", "4 3 2")
    assert [p.id for p in products] == [
        "S2A_MSIL2A_20230821T221941_N0509_R029_T01KAB_20230821T230000",
        SAFE,
        "scene",
    ]
    assert all(p.bands == "4 3 2" for p in products)
    assert products[2] == ProductRef("scene", str(folder / "scene.tif"), "4 3 2")
    zipped = list_products([str(next(folder.glob("*.zip")))])
    assert zipped[0].id == "S2B_MSIL1C_20220101T101031_N0400_R022_T33UUU_20220101T101031"
    assert product_name(str(folder / f"{SAFE}.SAFE" / "MTD_MSIL1C.xml")) == SAFE


def test_relative_paths_become_absolute_as_spark_executors_need(folder: Path, monkeypatch):
    monkeypatch.chdir(folder)
    assert [p.scene for p in list_products("*.tif ../products/*.zip")] == [
        str(folder / "scene.tif"),
        str(next(folder.glob("*.zip"))),
    ]


def test_a_text_file_lists_paths_and_globs_one_a_line(folder: Path, tmp_path: Path):
    listing = tmp_path / "products.txt"
    listing.write_text(f"# the zips, then one product\n{folder}/*.zip\n\n{folder}/{SAFE}.SAFE\n")
    assert [p.id for p in list_products(str(listing))] == [
        "S2B_MSIL1C_20220101T101031_N0400_R022_T33UUU_20220101T101031",
        SAFE,
    ]


def test_each_item_of_an_item_collection_is_a_product(tmp_path: Path):
    path = tmp_path / "search.json"
    pystac.ItemCollection([_item("S2B_33UUU_20240601_0_L2A"), _item("S2A_33UUU_20240604_0_L2A")]
                          ).save_object(str(path))  # fmt: skip
    products = list_products(str(path))
    assert [(p.id, p.scene) for p in products] == [
        ("S2B_33UUU_20240601_0_L2A", f"{path}#S2B_33UUU_20240601_0_L2A"),
        ("S2A_33UUU_20240604_0_L2A", f"{path}#S2A_33UUU_20240604_0_L2A"),
    ]


def test_a_folder_of_stac_items_lists_its_items_named_by_their_ids(tmp_path: Path):
    for name, item_id in (("a.json", "S2B_one"), ("b.json", "S2B_two")):
        _item(item_id).save_object(include_self_link=False, dest_href=str(tmp_path / name))
    (tmp_path / "notes.json").write_text(json.dumps({"not": "an item"}))
    products = list_products(str(tmp_path))
    assert [(p.id, Path(p.scene).name) for p in products] == [
        ("S2B_one", "a.json"),
        ("S2B_two", "b.json"),
    ]


def test_a_folder_without_items_is_one_scene(tmp_path: Path):
    (tmp_path / "patch_B04.tif").touch()
    assert list_products(str(tmp_path)) == [ProductRef(tmp_path.name, str(tmp_path))]


def test_names_that_clash_keep_a_folder_each_whatever_the_order(tmp_path: Path):
    paths = [tmp_path / "a" / "scene.tif", tmp_path / "b" / "scene.tif", tmp_path / "my (1).tif"]
    ids = [p.id for p in list_products([str(p) for p in paths])]
    assert ids[0].startswith("scene-") and ids[1].startswith("scene-") and ids[0] != ids[1]
    assert ids[2] == "my_1"
    assert [p.id for p in list_products([str(p) for p in paths[1::-1]])] == ids[1::-1]


def test_nothing_to_map_and_a_glob_matching_nothing_are_named(tmp_path: Path):
    with pytest.raises(ProductListError, match='"mapping.scenes=DIR/\\*.SAFE"'):
        list_products(None)
    with pytest.raises(ProductListError, match=r"mapping.scenes '.*/\*.SAFE' matches no file"):
        list_products(f"{tmp_path}/*.SAFE")
    missing = tmp_path / "gone.SAFE"  # listed: its row will say it does not exist
    assert list_products(str(missing)) == [ProductRef("gone", str(missing))]


def test_each_product_has_its_folder_under_the_root(tmp_path: Path):
    assert MapFolders(str(tmp_path)).of(ProductRef("p1", "x.tif")) == tmp_path / "p1"
