"""Helpers of the mapping tests (tests/mapping and tests/pipelines/mapping): small GeoTIFFs,
painted scenes, a stand-in model, the shared BigEarthNet patch and an HTTP server of files
with byte ranges."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio import Affine

from tests.conftest import PROJECT_ROOT

UTM33 = "EPSG:32633"
ORIGIN = Affine.translation(400000, 5340000) @ Affine.scale(10, -10)
HTTP_FILES = Path(__file__).with_name("http_files.py")
BIGEARTHNET = PROJECT_ROOT.parent / "shared" / "data" / "scenes" / "BigEarthNet-S2-Example.tar.bz2"


def bigearthnet_patch(root: Path) -> Path:
    """The folder of one real 120x120 BigEarthNet Sentinel-2 patch (one file per band),
    extracted under ``root``; skips the test when the shared archive is absent."""
    if not BIGEARTHNET.is_file():
        pytest.skip(f"{BIGEARTHNET} is absent (the shared BigEarthNet example patches)")
    with tarfile.open(BIGEARTHNET) as archive:
        archive.extractall(root, filter="data")
    return sorted(p for p in (root / "BigEarthNet-S2-Example").iterdir() if p.is_dir())[0]


def write_tif(
    path: Path,
    bands: np.ndarray,
    crs: str | None = UTM33,
    transform: Affine = ORIGIN,
    nodata: float | None = None,
) -> Path:
    """``bands``: ``(count, h, w)``."""
    count, height, width = bands.shape
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=width,
        height=height,
        count=count,
        dtype=bands.dtype.name,
        crs=crs,
        transform=transform,
        nodata=nodata,
    ) as dst:
        dst.write(bands)
    return path


def painted(rows: int, cols: int, size: int = 64, extra: tuple[int, int] = (0, 0)) -> np.ndarray:
    """uint8 ``(3, rows*size + extra[0], cols*size + extra[1])``: window ``(r, c)`` painted
    ``10 * (r * cols + c) + 5`` in every band (so it decodes to class ``r * cols + c``)."""
    out = np.zeros((3, rows * size + extra[0], cols * size + extra[1]), np.uint8)
    for r in range(rows):
        for c in range(cols):
            out[:, r * size : (r + 1) * size, c * size : (c + 1) * size] = 10 * (r * cols + c) + 5
    return out


def colour_logits(tiles: np.ndarray, n_classes: int = 26) -> np.ndarray:
    """A stand-in model: class ``mean // 10`` of the tile's first band, as one-hot logits."""
    classes = np.clip(tiles[..., 0].reshape(len(tiles), -1).mean(axis=1) // 10, 0, n_classes - 1)
    logits = np.zeros((len(tiles), n_classes), np.float32)
    logits[np.arange(len(tiles)), classes.astype(int)] = 10.0
    return logits


MTD_TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<n1:Level-{level_short}_User_Product xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-{level_short}.xsd">
<n1:General_Info><Product_Info><PROCESSING_LEVEL>Level-{level_short}</PROCESSING_LEVEL>
<PROCESSING_BASELINE>{baseline}</PROCESSING_BASELINE></Product_Info>
<Product_Image_Characteristics>{offsets}</Product_Image_Characteristics></n1:General_Info>
</n1:Level-{level_short}_User_Product>
"""


def write_safe(
    root: Path,
    rgb_dn: np.ndarray,
    level: str = "L1C",
    baseline: str = "05.09",
    offset: int = -1000,
    transform: Affine = ORIGIN,
    date: str = "20240601T101031",
    mask: np.ndarray | None = None,
) -> Path:
    """A Sentinel-2 .SAFE folder in the real layout of ``level`` holding ``rgb_dn`` ((3, h, w)
    uint16 DN of B04, B03, B02) as lossless JP2 10 m bands, and its metadata with the
    ``offset`` (RADIO_ADD_OFFSET / BOA_ADD_OFFSET) of every band; with ``mask``, the L2A
    scene classification (SCL values, at 20 m: half the 10 m size) or the L1C classification
    mask (3 bands of 0/1 at 60 m)."""
    short = level[1:]  # 1C / 2A
    tile = "T33UUU"
    safe = root / f"S2B_MSI{level}_{date}_N{baseline.replace('.', '')}_R022_{tile}_{date}.SAFE"
    granule = safe / "GRANULE" / f"{level}_{tile}_A012345_{date}" / "IMG_DATA"
    if level == "L2A":
        granule = granule / "R10m"
    granule.mkdir(parents=True)
    tag = "RADIO_ADD_OFFSET" if level == "L1C" else "BOA_ADD_OFFSET"
    offsets = "".join(f'<{tag} band_id="{b}">{offset}</{tag}>' for b in range(13))
    (safe / f"MTD_MSI{level}.xml").write_text(
        MTD_TEMPLATE.format(level_short=short, baseline=baseline, offsets=offsets)
    )
    suffix = "_10m" if level == "L2A" else ""
    for band, values in zip(("B04", "B03", "B02"), rgb_dn, strict=True):
        write_jp2(granule / f"{tile}_{date}_{band}{suffix}.jp2", values[None], transform)
    if mask is not None and level == "L2A":
        scl = granule.parent / "R20m" / f"{tile}_{date}_SCL_20m.jp2"
        scl.parent.mkdir()
        write_jp2(scl, mask[None].astype(np.uint8), transform @ Affine.scale(2))
    elif mask is not None:
        qi = granule.parent / "QI_DATA" / "MSK_CLASSI_B00.jp2"
        qi.parent.mkdir()
        write_jp2(qi, mask.astype(np.uint8), transform @ Affine.scale(6))
    return safe


def write_jp2(path: Path, bands: np.ndarray, transform: Affine) -> Path:
    """``bands`` ``(count, h, w)`` as a lossless JPEG 2000 in UTM 33N."""
    with rasterio.open(
        path,
        "w",
        driver="JP2OpenJPEG",
        width=bands.shape[2],
        height=bands.shape[1],
        count=bands.shape[0],
        dtype=bands.dtype.name,
        crs=UTM33,
        transform=transform,
        QUALITY=100,
        REVERSIBLE="YES",
    ) as dst:
        dst.write(bands)
    return path


@dataclass(frozen=True)
class ServedFolder:
    """A folder served over HTTP by ``http_files.py``: its address and its request log."""

    url: str
    log: Path

    def requests(self) -> list[tuple[str, str, int]]:
        """(method, path, status) of each request answered so far."""
        if not self.log.is_file():
            return []
        lines = (line.split(" ") for line in self.log.read_text().splitlines())
        return [(method, path, int(status)) for method, path, status in lines]


@contextmanager
def serving(folder: Path) -> Iterator[ServedFolder]:
    """``folder`` served on 127.0.0.1 with byte ranges (``http_files.py``) by a process of its
    own, as a remote server would be: GDAL holds the GIL during some of its HTTP reads, which
    would starve a server thread of the test's own process. Stopped when the block ends."""
    log = folder.parent / f"{folder.name}.requests.log"
    process = subprocess.Popen(
        [sys.executable, str(HTTP_FILES), str(folder), str(log)], stdout=subprocess.PIPE, text=True
    )
    try:
        port = process.stdout.readline().strip()
        if not port.isdigit():
            raise RuntimeError(f"{HTTP_FILES.name} did not start (exit code {process.poll()})")
        yield ServedFolder(f"http://127.0.0.1:{port}", log)
    finally:
        process.terminate()
        process.wait(timeout=30)
        process.stdout.close()
