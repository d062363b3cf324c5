"""Helpers of the mapping tests (tests/mapping and tests/pipelines/mapping): small GeoTIFFs,
painted scenes, a stand-in model and the shared BigEarthNet patch."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio import Affine

from tests.conftest import PROJECT_ROOT

UTM33 = "EPSG:32633"
ORIGIN = Affine.translation(400000, 5340000) @ Affine.scale(10, -10)
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
