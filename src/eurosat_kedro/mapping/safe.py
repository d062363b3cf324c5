"""Sentinel-2 products as they come: a .SAFE folder, its .zip, or its MTD XML; every
processing baseline's layout (L1C ``GRANULE/*/IMG_DATA/*_B04.jp2``, L2A
``GRANULE/*/IMG_DATA/R10m/*_B04_10m.jp2``). Only the 10 m bands are read."""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .radiometry import METADATA_NAME, ProductRadiometry, parse_metadata

RGB_BANDS = ("B04", "B03", "B02")


class ProductError(ValueError):
    """A Sentinel-2 product that cannot be mapped; the message names it and the fix."""


@dataclass(frozen=True)
class Product:
    """A product's RGB band files (paths rasterio opens, ``/vsizip/`` inside a zip) and what
    its metadata says about their values."""

    name: str
    band_files: tuple[str, ...]  # red, green, blue
    radiometry: ProductRadiometry | None
    mask_file: str | None = None  # L2A: the scene classification (SCL); L1C: MSK_CLASSI_B00
    mask_kind: str | None = None  # "scl" | "classi"


def is_product(path: Path) -> bool:
    """A .SAFE folder (or any folder holding a product's metadata), its .zip, or its XML."""
    if path.is_dir():  # metadata sits at most one folder down (``_metadata_member``)
        near = [*path.glob("*.xml"), *path.glob("*/*.xml")]
        return path.suffix.upper() == ".SAFE" or any(METADATA_NAME.match(p.name) for p in near)
    return path.suffix.lower() == ".zip" or bool(METADATA_NAME.match(path.name))


def open_product(path: Path, bands=RGB_BANDS) -> Product:
    """The 10 m band files (red, green, blue) and radiometry of the product at ``path``."""
    if path.is_file() and path.suffix.lower() != ".zip":
        path = path.parent  # the MTD XML: its folder is the product
    if path.is_dir():
        members = _folder_members(path)
        root = str(path)

        def read(member: str) -> bytes:
            return (path / member).read_bytes()

    else:
        members, read = _zip_members(path)
        root = f"/vsizip/{path.resolve()}"  # GDAL reads the bands inside the zip in place
    band_files = [f"{root}/{m}" for m in find_bands(members, path.name, bands)]
    mask, kind = find_mask(members)
    metadata = _metadata_member(members)
    radiometry = parse_metadata(read(metadata), f"{root}/{metadata}") if metadata else None
    mask_file = f"{root}/{mask}" if mask else None
    return Product(path.name, tuple(band_files), radiometry, mask_file, kind)


def find_mask(members: list[str]) -> tuple[str | None, str | None]:
    """The product's cloud mask: the L2A scene classification at 20 m, else the L1C
    classification mask (baseline >= 04.00); ``(None, None)`` when it has neither."""
    patterns = {
        "scl": re.compile(r"(^|/)GRANULE/[^/]+/IMG_DATA/R20m/[^/]*_SCL_20m\.jp2$"),
        "classi": re.compile(r"(^|/)GRANULE/[^/]+/QI_DATA/MSK_CLASSI_B00\.jp2$"),
    }
    for kind, pattern in patterns.items():
        if found := sorted(m for m in members if pattern.search(m)):
            return found[0], kind
    return None, None


def find_bands(members: list[str], product: str, bands=RGB_BANDS) -> list[str]:
    """The member of each 10 m band among a product's relative file names; a missing band or
    several granules is a ProductError naming the product."""
    found = []
    for band in bands:
        pattern = re.compile(rf"(^|/)GRANULE/[^/]+/IMG_DATA/(R10m/)?[^/]*_{band}(_10m)?\.jp2$")
        matches = sorted(m for m in members if pattern.search(m))
        if not matches:
            raise ProductError(
                f"{product} has no 10 m {band} file (looked for GRANULE/*/IMG_DATA/*_{band}.jp2 "
                f"and GRANULE/*/IMG_DATA/R10m/*_{band}_10m.jp2): it may be a partial download; "
                "fetch the whole product again"
            )
        granules = {
            PurePosixPath(m).parts[PurePosixPath(m).parts.index("GRANULE") + 1] for m in matches
        }
        if len(granules) > 1:
            raise ProductError(
                f"{product} holds {len(granules)} granules ({', '.join(sorted(granules)[:3])}, "
                "...), an old multi-tile product: give one granule's IMG_DATA folder as "
                'mapping.scene with "mapping.bands=B04 B03 B02"'
            )
        found.append(matches[0])
    return found


def _granule(member: str) -> str:
    parts = PurePosixPath(member).parts
    return parts[parts.index("GRANULE") + 1]


def _metadata_member(members: list[str]) -> str | None:
    shallow = sorted(
        (m for m in members if METADATA_NAME.match(PurePosixPath(m).name)),
        key=lambda m: len(PurePosixPath(m).parts),
    )
    return shallow[0] if shallow and len(PurePosixPath(shallow[0]).parts) <= 2 else None


def _folder_members(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _zip_members(archive: Path):
    """The zip's file names, refused when any would land outside it (zip-slip), and a reader
    of one member."""
    try:
        with zipfile.ZipFile(archive) as zf:
            names = [info.filename for info in zf.infolist() if not info.is_dir()]
    except zipfile.BadZipFile as error:
        raise ProductError(f"{archive} is not a zip archive ({error})") from error
    unsafe = [n for n in names if n.startswith(("/", "\\")) or ".." in PurePosixPath(n).parts]
    if unsafe:
        raise ProductError(
            f"{archive} has members outside its root ({unsafe[0]!r}): refused; it is not a "
            "Sentinel-2 product as ESA distributes them"
        )

    def read(member: str) -> bytes:
        with zipfile.ZipFile(archive) as zf:
            return zf.read(member)

    return sorted(names), read
