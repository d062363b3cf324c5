"""Classify every window of a scene, a strip of windows at a time (memory stays bounded)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from rasterio.windows import Window

from eurosat_kedro.serving.predict import softmax

from .grid import CLASS_MASKED, CLASS_NODATA, CLASS_UNCERTAIN, WindowGrid
from .scene import Scene
from .stretch import to_uint8


def classify_windows(
    scene: Scene,
    logits: Callable[[np.ndarray], np.ndarray],
    limits: dict,
    stride: int,
    batch_size: int,
    max_nodata_fraction: float,
    max_masked_fraction: float = 0.5,
    min_confidence: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Class ids (uint8, ``CLASS_NODATA`` where not classified, ``CLASS_MASKED`` where more of
    the window than ``max_masked_fraction`` is masked by the product's mask,
    ``CLASS_UNCERTAIN`` where the top class is less likely than ``min_confidence``) and
    top-class probabilities (float32, NaN where not classified) on the window grid.

    ``logits`` maps uint8 ``(N, 64, 64, 3)`` tiles to ``(N, classes)``. One strip of
    ``64 x width`` pixels is read per grid row, and at most ``batch_size`` + one row of tiles
    wait for the model, which gets whole batches of ``batch_size`` (all but the last): one
    input shape, the fastest, and no ONNX Runtime memory for odd ones.
    """
    grid = WindowGrid(scene.width, scene.height, stride)
    ids = np.full(grid.shape, CLASS_NODATA, np.uint8)
    confidence = np.full(grid.shape, np.nan, np.float32)
    rows, cols = grid.inside(scene.height), grid.inside(scene.width)
    strip_width = (cols - 1) * stride + grid.size if cols else 0
    pending: list[np.ndarray] = []
    where: list[tuple[int, int]] = []

    def flush(last: bool = False) -> None:
        n = len(pending) if last else len(pending) // batch_size * batch_size
        if n:
            probabilities = softmax(logits(np.stack(pending[:n])))
            r, c = np.array(where[:n]).T
            top = probabilities.max(axis=1)
            ids[r, c] = np.where(
                top < (min_confidence or 0), CLASS_UNCERTAIN, probabilities.argmax(axis=1)
            )
            confidence[r, c] = top
            del pending[:n], where[:n]

    with scene.reader() as reader:
        for r in range(rows):
            strip = Window(0, r * stride, strip_width, grid.size)
            values, valid = reader.read(strip)
            masked = reader.masked(strip) if scene.mask is not None else None
            rgb = to_uint8(values, limits, valid)
            for c in range(cols):
                x = c * stride
                if 1.0 - valid[:, x : x + grid.size].mean() > max_nodata_fraction:
                    continue
                if masked is not None and masked[:, x : x + grid.size].mean() > max_masked_fraction:
                    ids[r, c] = CLASS_MASKED
                    continue
                pending.append(rgb[:, x : x + grid.size])
                where.append((r, c))
            flush()
        flush(last=True)
    return ids, confidence
