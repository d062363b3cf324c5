"""STAC items as scenes: the 10 m RGB assets by key or common name, their offset, relative,
file:// and http hrefs, and what is missing named."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pystac
import pytest

from eurosat_kedro.mapping import SceneError, open_scene
from eurosat_kedro.mapping.stac_input import _offset, _pick, is_stac_item, readable_href
from tests.mapping.conftest import write_safe

ITEMS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "sentinel2" / "stac_items"


def _item(safe: Path, keys: dict[str, str], raster_offset: float | None = -0.1) -> Path:
    """An Earth Search v1-like item beside the product, with relative hrefs to its bands."""
    item = pystac.Item(
        "S2B_T33UUU_20240601_0_L2A", None, None, datetime(2024, 6, 1, tzinfo=timezone.utc), {}
    )
    for colour, key in keys.items():
        band = {"red": "B04", "green": "B03", "blue": "B02", "scl": "SCL"}[colour]
        file = next(safe.rglob(f"*_{band}*.jp2"))
        asset = pystac.Asset(f"./{file.relative_to(safe).as_posix()}", roles=["data"])
        if colour != "scl":
            asset.extra_fields["eo:bands"] = [{"name": band, "common_name": colour}]
            asset.extra_fields["gsd"] = 10
            if raster_offset is not None:
                asset.extra_fields["raster:bands"] = [{"offset": raster_offset, "scale": 0.0001}]
        item.add_asset(key, asset)
    path = safe / "item.json"
    item.set_self_href(str(path))
    item.save_object(include_self_link=False)
    return path


def test_an_item_with_relative_hrefs_opens_like_its_product(tmp_path: Path):
    dn = np.random.default_rng(0).integers(1000, 4000, (3, 128, 128)).astype(np.uint16)
    safe = write_safe(tmp_path, dn, level="L2A", mask=np.full((64, 64), 4, np.uint8))
    keys = {"red": "red", "green": "green", "blue": "blue", "scl": "scl"}
    item = _item(safe, keys)
    assert is_stac_item(item) and not is_stac_item(safe / "MTD_MSIL2A.xml")
    scene = open_scene(item)
    assert scene.product.offset == -1000 and scene.product.level == "L2A"
    assert scene.mask.file.endswith("_SCL_20m.jp2")
    assert [f for f, _ in scene.bands] == [f for f, _ in open_scene(safe).bands]


def test_planetary_computer_keys_and_the_baseline_when_no_raster_offset(tmp_path: Path):
    dn = np.ones((3, 64, 64), np.uint16)
    safe = write_safe(tmp_path, dn, level="L2A")
    item = _item(safe, {"red": "B04", "green": "B03", "blue": "B02"}, raster_offset=None)
    data = pystac.Item.from_file(str(item))
    data.properties["s2:processing_baseline"] = "05.10"
    data.save_object(include_self_link=False)
    assert open_scene(item).product.offset == -1000


def test_an_item_without_rgb_assets_lists_what_it_has(tmp_path: Path):
    safe = write_safe(tmp_path, np.ones((3, 64, 64), np.uint16), level="L2A")
    item = _item(safe, {"red": "red", "green": "green"})
    with pytest.raises(SceneError, match=r"no 10 m blue asset among \['green', 'red'\]"):
        open_scene(item)


def test_an_item_of_an_item_collection_opens_by_its_id(tmp_path: Path):
    """A STAC API search saved as an ItemCollection: ``search.json#ITEM_ID`` is one scene,
    its relative hrefs read against the collection file's folder."""
    dn = np.random.default_rng(0).integers(1000, 4000, (3, 64, 64)).astype(np.uint16)
    safe = write_safe(tmp_path, dn, level="L2A")
    item = pystac.Item.from_file(str(_item(safe, {"red": "red", "green": "green", "blue": "blue"})))
    search = safe / "search.json"
    pystac.ItemCollection([item]).save_object(str(search))
    scene = open_scene(f"{search}#{item.id}")
    assert [f for f, _ in scene.bands] == [f for f, _ in open_scene(safe).bands]
    assert scene.product.offset == -1000 and scene.source == f"{search}#{item.id}"
    with pytest.raises(SceneError, match=r"search.json holds no item 'S2A_gone' \(1 items: S2B_"):
        open_scene(f"{search}#S2A_gone")
    with pytest.raises(SceneError, match="no such file"):
        open_scene(f"{tmp_path / 'missing.json'}#{item.id}")


def test_hrefs_become_what_gdal_reads():
    assert readable_href("file:///data/a%20b/B04.tif") == "/data/a b/B04.tif"
    assert readable_href("/data/B04.tif") == "/data/B04.tif"
    assert readable_href("https://x.org/B04.tif") == "/vsicurl/https://x.org/B04.tif"
    assert readable_href("s3://bucket/t/B04.jp2") == "/vsis3/bucket/t/B04.jp2"


@pytest.mark.skipif(not ITEMS.is_dir(), reason=f"{ITEMS} is absent")
def test_real_items_of_earth_search_planetary_computer_and_stactools():
    expected = {  # file prefix -> (red key, DN offset)
        "odcstac__S2A_28QCH": ("B04", 0.0),
        "odcstac__S2B_MSIL2A_20190629T212529_R043_T06VVN_20201006T080531.json": ("B04", 0.0),
        "riotilerpds__": ("red", 0.0),
        "stactools__S2A_T01LAC": ("red", 0.0),
        "stactools__S2A_T07HFE": ("red", 0.0),
        "stactools__expected_S2A_MSIL2A_20230821T221941_N0509": ("red", -1000.0),
        "stactools__expected_S2B_MSIL2A_20220413T150759_N0400": ("red", -1000.0),
    }
    for prefix, (red_key, offset) in expected.items():
        path = next(p for p in sorted(ITEMS.glob("*.json")) if p.name.startswith(prefix))
        item = pystac.Item.from_file(str(path))
        key, asset = _pick(item, "red")
        assert key == red_key and _offset(item, asset) == offset, path.name
        assert all(_pick(item, colour) for colour in ("green", "blue")), path.name
