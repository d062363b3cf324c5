"""What a Sentinel-2 product's digital numbers mean, and EuroSAT's published way to 8 bits.

EuroSAT's RGB JPEGs are bands B04, B03 and B02 of Level-1C products converted with
``gdal_translate -ot Byte -a_nodata 0 -scale 0 2750 1 255`` (EuroSAT repository,
github.com/phelber/EuroSAT, README "FAQ"): DN 0-2750 linearly to 1-255, clipped, with 0
reserved for nodata.

Products of processing baseline 04.00 and later (everything processed since 25 January 2022,
and the reprocessed archive) store DN + 1000: the product metadata says so as
``RADIO_ADD_OFFSET`` (MTD_MSIL1C.xml) or ``BOA_ADD_OFFSET`` (MTD_MSIL2A.xml) of -1000 per band,
and reflectance = (DN + offset) / 10000. The offset must be added before EuroSAT's stretch, or a
scene comes out far too bright. (ESA, "Sentinel-2: Processing Baseline 04.00", 2022.)
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

EUROSAT_DN_MAX = 2750.0  # DN 0 .. 2750 -> bytes 1 .. 255
EUROSAT_BYTE_MIN = 1  # 0 is nodata
QUANTIFICATION = 10000.0  # reflectance = (DN + offset) / QUANTIFICATION
OFFSET_SINCE = date(2022, 1, 25)  # products processed from this day carry the offset
BASELINE_OFFSET = -1000.0
RGB_BAND_IDS = ("1", "2", "3")  # band_id of B02, B03, B04 in the product metadata
# MTD_MSIL1C.xml / MTD_MSIL2A.xml since baseline 02.04; S2A_OPER_MTD_SAFL1C_....xml before
METADATA_NAME = re.compile(r"^(MTD_MSIL(1C|2A)|S2[AB]_\w*_MTD_SAFL(1C|2A)\w*)\.xml$")
_DATE = re.compile(r"(?<!\d)(20\d\d)(\d\d)(\d\d)T\d{6}")


@dataclass(frozen=True)
class ProductRadiometry:
    """What a product's metadata says about its DN: the offset to add, its level, its
    processing baseline, and the file that said so."""

    offset: float
    level: str | None = None  # "L1C" or "L2A"
    baseline: str | None = None
    source: str = ""


def read_metadata(path: Path) -> ProductRadiometry:
    """The radiometry of a product from its MTD_MSIL1C.xml / MTD_MSIL2A.xml; a file that
    cannot be read or parsed is a ValueError naming it."""
    try:
        text = Path(path).read_bytes()
    except OSError as error:
        raise ValueError(f"{path} cannot be read ({error})") from error
    return parse_metadata(text, str(path))


def parse_metadata(text: bytes, source: str) -> ProductRadiometry:
    """``read_metadata`` of the file's content; ``source`` names it in errors."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as error:
        raise ValueError(
            f"{source} cannot be parsed as Sentinel-2 product metadata ({error}); give the "
            "band files with mapping.offset set instead"
        ) from error
    offsets = {
        element.get("band_id"): float(element.text)
        for element in root.iter()
        if element.tag.split("}")[-1] in ("RADIO_ADD_OFFSET", "BOA_ADD_OFFSET")
        and element.text is not None
    }
    rgb = {offsets[band] for band in RGB_BAND_IDS if band in offsets}
    if len(rgb) > 1:
        raise ValueError(f"{source}: bands B02, B03, B04 have different offsets {sorted(rgb)}")
    baseline = _text(root, "PROCESSING_BASELINE")
    level = _text(root, "PROCESSING_LEVEL") or _text(root, "PRODUCT_TYPE") or ""
    return ProductRadiometry(
        offset=rgb.pop() if rgb else 0.0,
        level="L2A" if "2A" in level else "L1C" if "1C" in level else None,
        baseline=baseline,
        source=source,
    )


def _text(root: ET.Element, tag: str) -> str | None:
    for element in root.iter():
        if element.tag.split("}")[-1] == tag and element.text:
            return element.text.strip()
    return None


def find_metadata(band_file: Path, levels: int = 5) -> Path | None:
    """The product metadata of a band file inside a .SAFE folder (up to ``levels`` folders
    above it: ``GRANULE/<granule>/IMG_DATA/R10m/`` in an L2A product), or beside it."""
    for folder in [band_file.parent, *band_file.parent.parents][: levels + 1]:
        found = sorted(p for p in folder.glob("*.xml") if METADATA_NAME.match(p.name))
        if found:
            return found[0]
    return None


def acquisition_date(names: list[str]) -> date | None:
    """The first ``YYYYMMDDThhmmss`` date in the file names (Sentinel-2 product, granule and
    band files carry one), or None."""
    for name in names:
        if match := _DATE.search(Path(name).name):
            year, month, day = (int(part) for part in match.groups())
            try:
                return date(year, month, day)
            except ValueError:
                continue
    return None


def offset_of_date(acquired: date) -> float:
    """The offset products of this acquisition date carry as processed today: -1000 from
    25 January 2022. (The archive before that date is being reprocessed with the offset;
    a reprocessed product has metadata that says so: give the .SAFE or its MTD XML.)"""
    return BASELINE_OFFSET if acquired >= OFFSET_SINCE else 0.0


def resolve_offset(setting, product: ProductRadiometry | None, files: list[str]) -> float:
    """The DN offset to add: ``setting`` when it is a number; with ``auto``, what the
    product metadata says, else what the acquisition date in the file names implies; an
    error saying how to set it when neither is known."""
    if setting not in (None, "auto"):
        try:
            return float(setting)
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"mapping.offset must be auto or a number (e.g. -1000), got {setting!r}"
            ) from error
    if product is not None:
        return product.offset
    if (acquired := acquisition_date(files)) is not None:
        return offset_of_date(acquired)
    raise ValueError(
        f"The radiometric offset of {files[0]} cannot be determined: no product metadata "
        "(MTD_MSIL1C.xml / MTD_MSIL2A.xml) and no acquisition date in its name. Set "
        "mapping.offset: -1000 for products of processing baseline 04.00 or later (processed "
        "since 25 January 2022), 0 before; or mapping.stretch.type=linear for another sensor."
    )


def eurosat_limits(offset: float, scale: float = 1.0) -> dict:
    """The stretch that turns values into EuroSAT's bytes: ``(value x scale + offset)`` DN
    0-2750 -> 1-255, as ``to_uint8`` applies it. ``scale`` is 10000 for reflectance (0-1)."""
    return {
        "type": "eurosat",
        "low": -offset / scale,
        "high": (EUROSAT_DN_MAX - offset) / scale,
        "out_low": EUROSAT_BYTE_MIN,
        "offset": offset,
        "scale": scale,
    }


def eurosat_bytes_to_dn(rgb: np.ndarray, offset: float = BASELINE_OFFSET) -> np.ndarray:
    """The inverse of EuroSAT's recipe: bytes 1-255 to the uint16 DN a product stores (DN
    0-2750, minus ``offset``), so that ``eurosat_limits(offset)`` gives the bytes back; byte 0
    (EuroSAT's nodata) becomes DN 0 shifted by the offset too. Builds Sentinel-2-like scenes
    from EuroSAT images (tests, benchmarks)."""
    dn = (
        np.rint(
            (rgb.astype(np.float64) - EUROSAT_BYTE_MIN) * EUROSAT_DN_MAX / (255 - EUROSAT_BYTE_MIN)
        )
        - offset
    )
    return dn.clip(0, np.iinfo(np.uint16).max).astype(np.uint16)
