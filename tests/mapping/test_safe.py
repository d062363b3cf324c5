"""Sentinel-2 products as they come: .SAFE folders of every baseline, their zip and MTD XML."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio

from eurosat_kedro.mapping import SceneError, open_scene
from eurosat_kedro.mapping.safe import ProductError, find_bands
from tests.mapping.conftest import write_safe

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "sentinel2"
LISTINGS = SHARED / "safe_listings"


def _members(listing: Path) -> list[str]:
    return [row.split(";")[1].strip() for row in listing.read_text().splitlines() if ";" in row]


@pytest.mark.skipif(not LISTINGS.is_dir(), reason=f"{LISTINGS} is absent")
def test_the_rgb_bands_of_every_baseline_layout_are_found():
    checked = 0
    for listing in sorted(LISTINGS.glob("L*_??.??.csv")):
        red, green, blue = find_bands(_members(listing), listing.name)
        assert red.endswith(("_B04.jp2", "_B04_10m.jp2")) and "/IMG_DATA/" in red, listing
        assert green.replace("B03", "B04") == red and blue.replace("B02", "B04") == red
        checked += 1
    assert checked >= 25  # L1C 02.01 .. 04.00 and L2A 00.01 .. 04.00


@pytest.mark.skipif(not LISTINGS.is_dir(), reason=f"{LISTINGS} is absent")
def test_an_old_multi_granule_product_says_to_pick_a_granule():
    with pytest.raises(ProductError, match="holds 2 granules.*IMG_DATA folder"):
        find_bands(_members(LISTINGS / "L1C_02.04_old.csv"), "old.SAFE")


def _dn(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(1000, 4000, (3, 128, 128)).astype(np.uint16)


@pytest.mark.parametrize("level", ["L1C", "L2A"])
def test_a_safe_folder_its_mtd_xml_and_its_zip_open_alike(tmp_path: Path, level: str):
    safe = write_safe(tmp_path, _dn(), level=level)
    archive = Path(shutil.make_archive(str(tmp_path / safe.stem), "zip", tmp_path, safe.name))
    scenes = [open_scene(safe), open_scene(safe / f"MTD_MSI{level}.xml"), open_scene(archive)]
    for scene in scenes:
        assert (scene.width, scene.height, scene.dtype) == (128, 128, "uint16")
        assert scene.product.offset == -1000 and scene.product.level == level
        assert [Path(file).name.split("_")[2][:3] for file, _ in scene.bands] == [
            "B04",
            "B03",
            "B02",
        ]
    assert scenes[2].bands[0][0].startswith("/vsizip/")
    with scenes[2].reader() as reader:  # read through GDAL's /vsizip/, lossless
        values, _ = reader.read()
    np.testing.assert_array_equal(values, _dn())


def test_a_missing_band_file_names_the_product(tmp_path: Path):
    safe = write_safe(tmp_path, _dn())
    next(safe.rglob("*_B03.jp2")).unlink()
    with pytest.raises(SceneError, match=f"{safe.name} has no 10 m B03 file.*partial download"):
        open_scene(safe)


def test_a_zip_with_paths_outside_its_root_is_refused(tmp_path: Path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("S2A_MSIL1C_X.SAFE/MTD_MSIL1C.xml", "<x/>")
        zf.writestr("../../outside.jp2", b"")
    with pytest.raises(SceneError, match="evil.zip has members outside its root.*refused"):
        open_scene(archive)


def test_unparsable_metadata_is_named(tmp_path: Path):
    safe = write_safe(tmp_path, _dn())
    (safe / "MTD_MSIL1C.xml").write_text("<broken")
    with pytest.raises(SceneError, match="MTD_MSIL1C.xml cannot be parsed"):
        open_scene(safe)


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} is absent")
def test_the_real_partial_l2a_product_names_its_missing_10m_bands():
    safe = next(SHARED.glob("S2A_MSIL2A_*.SAFE"))
    with pytest.raises(SceneError, match=f"{safe.name} has no 10 m B04 file"):
        open_scene(safe)
    with rasterio.open(next(safe.rglob("*_SCL_20m.jp2"))) as src:  # what it does have
        assert (src.width, src.height) == (5490, 5490)
