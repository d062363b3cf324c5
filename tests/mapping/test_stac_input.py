"""STAC items as scenes: the 10 m RGB assets by key or common name, their offset, relative,
file:// and http hrefs (read from a local HTTP server as from the files themselves), and what
is missing or unreachable named."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pystac
import pytest
from rasterio import Affine
from rasterio.windows import Window

from eurosat_kedro.mapping import CLASS_MASKED, SceneError, classify_windows, open_scene
from eurosat_kedro.mapping.stac_input import (
    REMOTE_READ_OPTIONS,
    _offset,
    _pick,
    asset_href,
    is_stac_item,
    readable_href,
    remote_read_options,
)
from tests.mapping.conftest import (
    ORIGIN,
    ServedFolder,
    colour_logits,
    painted,
    serving,
    write_safe,
    write_tif,
)

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
    for href in ("https://x.org/B04.tif?sig=a", "s3://bucket/t/B04.jp2"):
        assert asset_href(readable_href(href)) == href  # what an error names
    assert asset_href(readable_href("/data/B04.tif")) is None


def test_only_network_reads_get_gdals_remote_settings_and_the_users_own_win():
    remote = ["/data/B03.tif", "/vsicurl/https://x.org/B04.tif"]
    assert remote_read_options(remote, environ={}) == REMOTE_READ_OPTIONS
    assert remote_read_options(["/data/B04.tif"], environ={}) == {}  # .msk, .ovr still found
    mine = {"GDAL_DISABLE_READDIR_ON_OPEN": "TRUE"}
    assert "GDAL_DISABLE_READDIR_ON_OPEN" not in remote_read_options(remote, environ=mine)


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


# a scene of 2 x 3 windows painted class r * 3 + c, one GeoTIFF per band, and its SCL at 20 m
# with a cloud (9) over the first window
BANDS = {"red": "B04", "green": "B03", "blue": "B02", "scl": "SCL"}


def _band_files(folder: Path) -> dict[str, str]:
    """The scene's files in ``folder``, by asset key: their names relative to it."""
    folder.mkdir()
    pixels = painted(2, 3)
    scl = np.full((1, 64, 96), 4, np.uint8)  # 4: vegetation
    scl[:, :32, :32] = 9
    names = {key: f"T33UUU_20240601T101031_{band}.tif" for key, band in BANDS.items()}
    for i, key in enumerate(("red", "green", "blue")):
        write_tif(folder / names[key], pixels[i : i + 1])
    write_tif(folder / names["scl"], scl, transform=ORIGIN @ Affine.scale(2))
    return names


def _href_item(path: Path, hrefs: dict[str, str]) -> Path:
    """A STAC item at ``path`` whose assets (keys of ``BANDS``) are at ``hrefs``."""
    item = pystac.Item(
        "S2B_T33UUU_20240601_0_L2A", None, None, datetime(2024, 6, 1, tzinfo=timezone.utc), {}
    )
    for key, href in hrefs.items():
        item.add_asset(key, pystac.Asset(href, roles=["data"]))
    item.set_self_href(str(path))
    item.save_object(include_self_link=False)
    return path


@pytest.fixture
def band_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServedFolder]:
    """The scene's band files served over HTTP from 127.0.0.1, stopped after the test. A
    request that hangs fails in seconds, not curl's minutes."""
    monkeypatch.setenv("GDAL_HTTP_TIMEOUT", "20")
    _band_files(tmp_path / "assets")
    with serving(tmp_path / "assets") as served:
        yield served


def test_an_item_with_http_hrefs_maps_as_the_same_files_read_locally(
    tmp_path: Path, band_server: ServedFolder
):
    names = _band_files(tmp_path / "local")
    local = _href_item(tmp_path / "local" / "item.json", {k: f"./{n}" for k, n in names.items()})
    remote = _href_item(
        tmp_path / "remote.json", {k: f"{band_server.url}/{n}" for k, n in names.items()}
    )
    scenes = [open_scene(item) for item in (local, remote)]
    assert scenes[1].bands[0][0] == f"/vsicurl/{band_server.url}/{names['red']}"
    assert scenes[1].mask.file == f"/vsicurl/{band_server.url}/{names['scl']}"
    grids = [(s.width, s.height, s.crs, s.transform, s.dtype, s.product.level) for s in scenes]
    assert grids[1] == grids[0]
    read = []
    for scene in scenes:
        with scene.reader() as reader:
            values, valid = reader.read()
            read.append((values, valid, reader.masked(Window(0, 0, scene.width, scene.height))))
    for local_array, remote_array in zip(*read, strict=True):
        np.testing.assert_array_equal(remote_array, local_array)
    assert read[1][2][:64, :64].all() and not read[1][2][64:, 64:].any()  # the cloud
    none = {"type": "none", "low": 0.0, "high": 255.0}
    maps = [classify_windows(scene, colour_logits, none, 64, 4, 0.5)[0] for scene in scenes]
    assert maps[1].tolist() == maps[0].tolist() == [[CLASS_MASKED, 1, 2], [3, 4, 5]]
    # GDAL read the files by byte ranges, and asked for nothing but them
    requests = band_server.requests()
    assert any(status == 206 for _, _, status in requests)
    assert {path.lstrip("/") for _, path, _ in requests} == set(names.values())


def _closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (just released by the OS)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _unreachable_error(item: Path) -> str:
    with pytest.raises(SceneError) as raised:
        open_scene(item)
    return str(raised.value)


def test_an_href_where_nothing_listens_is_named_with_the_fix(tmp_path: Path):
    hrefs = {key: f"http://127.0.0.1:{_closed_port()}/{key}.tif" for key in BANDS}
    item = _href_item(tmp_path / "item.json", hrefs)
    message = _unreachable_error(item)
    assert message.startswith(f"the STAC item {item}: the asset {hrefs['red']} cannot be read")
    assert re.search("(Could not|Couldn't) connect", message)  # curl's words for it
    assert "download the assets" in message


def test_an_href_the_server_does_not_have_is_named_with_the_fix(
    tmp_path: Path, band_server: ServedFolder
):
    names = _band_files(tmp_path / "local")
    hrefs = {key: f"{band_server.url}/{name}" for key, name in names.items()}
    hrefs["green"] = f"{band_server.url}/gone_B03.tif"
    item = _href_item(tmp_path / "item.json", hrefs)
    message = _unreachable_error(item)
    assert message.startswith(f"the STAC item {item}: the asset {hrefs['green']} cannot be read")
    assert "HTTP response code: 404" in message and "download the assets" in message
