"""Sentinel-2 DN to EuroSAT's bytes: the published recipe, the 2022 offset, where it is read."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest

from eurosat_kedro.mapping.radiometry import (
    ProductRadiometry,
    acquisition_date,
    eurosat_bytes_to_dn,
    eurosat_limits,
    find_metadata,
    read_metadata,
    resolve_offset,
)
from eurosat_kedro.mapping.stretch import choose_limits, to_uint8

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "sentinel2"
MTD = """<?xml version="1.0" encoding="UTF-8"?>
<n1:Level-2A_User_Product xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-2A.xsd">
<n1:General_Info><Product_Info><PROCESSING_LEVEL>Level-2A</PROCESSING_LEVEL>
<PROCESSING_BASELINE>05.09</PROCESSING_BASELINE></Product_Info>
<Product_Image_Characteristics><BOA_ADD_OFFSET_VALUES_LIST>
{offsets}
</BOA_ADD_OFFSET_VALUES_LIST></Product_Image_Characteristics></n1:General_Info>
</n1:Level-2A_User_Product>
"""


def _mtd(folder: Path, offsets: dict[int, int]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = "\n".join(
        f'<BOA_ADD_OFFSET band_id="{band}">{value}</BOA_ADD_OFFSET>'
        for band, value in offsets.items()
    )
    path = folder / "MTD_MSIL2A.xml"
    path.write_text(MTD.format(offsets=lines))
    return path


def test_eurosat_recipe_maps_dn_0_2750_to_1_255_and_nodata_to_0():
    limits = choose_limits({"type": "eurosat"}, "uint16", offset=0.0)
    values = np.array([[[0, 1375, 2750, 9000]]] * 3, np.uint16)
    valid = np.array([[True, True, True, False]])
    assert to_uint8(values, limits)[0, :, 0].tolist() == [1, 128, 255, 255]
    assert to_uint8(values, limits, valid)[0, :, 0].tolist() == [1, 128, 255, 0]


def test_every_eurosat_byte_survives_the_inverse_recipe_with_the_2022_offset():
    tile = np.arange(1, 256, dtype=np.uint8)
    stored_dn = np.rint((tile - 1.0) * 2750 / 254) + 1000  # baseline >= 04.00 adds 1000
    limits = choose_limits({"type": "auto"}, "uint16", offset=-1000.0)
    values = np.stack([stored_dn.astype(np.uint16)[None, :]] * 3)
    assert to_uint8(values, limits)[0, :, 0].tolist() == tile.tolist()


@pytest.mark.parametrize("offset", [-1000.0, 0.0])
def test_eurosat_bytes_to_dn_is_the_inverse_of_the_recipe(offset):
    tile = np.arange(1, 256, dtype=np.uint8)
    dn = eurosat_bytes_to_dn(tile, offset)
    assert dn.dtype == np.uint16 and dn[[0, -1]].tolist() == [-offset, 2750 - offset]
    assert to_uint8(np.stack([dn[None]] * 3), eurosat_limits(offset))[0, :, 0].tolist() == list(
        range(1, 256)
    )


def test_reflectance_0_1_is_recognised_and_scaled_to_dn():
    reflectance = np.array([[[0.0, 0.1375, 0.275]]] * 3, np.float32)
    limits = choose_limits({"type": "auto"}, "float32", reflectance, offset=0.0)
    assert limits["scale"] == 10000
    assert to_uint8(reflectance, limits)[0, :, 0].tolist() == [1, 128, 255]
    dn = reflectance * 10000
    assert choose_limits({"type": "auto"}, "float32", dn, offset=0.0)["scale"] == 1


def test_the_offset_is_read_from_the_product_metadata_above_the_band_files(tmp_path: Path):
    safe = tmp_path / "S2B_MSIL2A_20240101T100000_N0509_R022_T32TPS_20240101T120000.SAFE"
    mtd = _mtd(safe, {band: -1000 for band in range(13)})
    band = safe / "GRANULE" / "L2A_T32TPS" / "IMG_DATA" / "R10m" / "T32TPS_B04_10m.jp2"
    band.parent.mkdir(parents=True)
    band.write_bytes(b"")
    assert find_metadata(band) == mtd
    product = read_metadata(mtd)
    assert (product.offset, product.level, product.baseline) == (-1000.0, "L2A", "05.09")


def test_bad_metadata_is_named(tmp_path: Path):
    broken = tmp_path / "MTD_MSIL1C.xml"
    broken.write_text("<not closed")
    with pytest.raises(ValueError, match="MTD_MSIL1C.xml cannot be parsed.*mapping.offset"):
        read_metadata(broken)
    mixed = _mtd(tmp_path / "mixed", {1: -1000, 2: 0, 3: -1000})
    with pytest.raises(ValueError, match="different offsets"):
        read_metadata(mixed)


def test_auto_uses_metadata_then_the_acquisition_date_then_says_how_to_set_it():
    product = ProductRadiometry(-1000.0, "L1C", "04.00", "MTD_MSIL1C.xml")
    assert resolve_offset("auto", product, ["x.tif"]) == -1000.0
    assert resolve_offset("auto", None, ["T33UUU_20170216T102101_B04.jp2"]) == 0.0
    assert resolve_offset("auto", None, ["S2A_MSIL1C_20220601T101031_B04.tif"]) == -1000.0
    assert resolve_offset(0, product, ["x.tif"]) == 0.0  # a number wins
    with pytest.raises(ValueError, match="x.tif cannot be determined.*mapping.offset: -1000"):
        resolve_offset("auto", None, ["x.tif"])
    with pytest.raises(ValueError, match="mapping.offset must be auto or a number"):
        resolve_offset("minus a thousand", None, ["x.tif"])
    assert acquisition_date(["T33UUU_20220125T000000_B02.jp2"]) == date(2022, 1, 25)


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data/sentinel2 is not beside the clone")
def test_real_metadata_of_every_baseline():
    offsets = {
        path.name.split("_N")[1][:4]: read_metadata(path).offset
        for path in sorted((SHARED / "metadata").glob("*MTD_MSI*.xml"))
    }
    assert offsets == {"0301": 0.0, "0212": 0.0, "0509": -1000.0, "0400": -1000.0}
    safe = next(SHARED.glob("S2A_MSIL2A_*.SAFE"))
    scl = next(safe.rglob("*_SCL_20m.jp2"))
    assert read_metadata(find_metadata(scl)).offset == -1000.0
