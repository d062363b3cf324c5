"""Bring scene values to EuroSAT's 8-bit look: a linear stretch ``[low, high] -> [0, 255]``.

EuroSAT's RGB JPEGs were made from Sentinel-2 L1C reflectance (x 10000), roughly
``[0, ~2750-3000] -> [0, 255]``. That is an approximation: the exact procedure is not
published, and L2A (surface reflectance, e.g. BigEarthNet) is darker than L1C, most in blue.
"""

from __future__ import annotations

import numpy as np

STRETCH_TYPES = ("auto", "none", "linear", "percentile")


def choose_limits(
    settings: dict, dtype: str, sample: np.ndarray | None = None, valid: np.ndarray | None = None
) -> dict:
    """``{"type", "low", "high"}`` from ``settings`` (``type``: auto, none, linear with
    ``min``/``max``, percentile with ``percentiles`` of ``sample``'s valid pixels).

    ``auto`` is ``none`` for uint8 scenes, ``linear`` otherwise.
    """
    kind = settings.get("type", "auto")
    if kind not in STRETCH_TYPES:
        raise ValueError(f"mapping.stretch.type {kind!r} is not one of {STRETCH_TYPES}")
    if kind == "auto":
        kind = "none" if dtype == "uint8" else "linear"
    if kind == "none":
        if dtype != "uint8":
            raise ValueError(
                f"the scene is {dtype}, not uint8: set mapping.stretch.type=linear "
                "(with mapping.stretch.max, 3000 looks like EuroSAT) or percentile"
            )
        return {"type": "none", "low": 0.0, "high": 255.0}
    if kind == "linear":
        low, high = float(settings.get("min", 0)), float(settings.get("max", 3000))
    else:
        if sample is None:
            raise ValueError("a percentile stretch needs a sample of the scene")
        lo_pct, hi_pct = settings.get("percentiles", [2, 98])
        pixels = sample[:, valid] if valid is not None else sample.reshape(len(sample), -1)
        if pixels.size == 0:
            raise ValueError("the scene has no valid pixel to take percentiles of")
        low, high = (float(v) for v in np.percentile(pixels, [lo_pct, hi_pct]))
    if not high > low:
        raise ValueError(f"mapping.stretch: max ({high}) must be above min ({low})")
    return {"type": kind, "low": low, "high": high}


def to_uint8(values: np.ndarray, limits: dict) -> np.ndarray:
    """``(3, h, w)`` scene values -> uint8 ``(h, w, 3)`` RGB."""
    if limits["type"] == "none" and values.dtype == np.uint8:
        return np.ascontiguousarray(values.transpose(1, 2, 0))
    low, high = limits["low"], limits["high"]
    scaled = (values.astype(np.float32) - low) * np.float32(255.0 / (high - low))
    return np.rint(np.clip(scaled, 0, 255)).astype(np.uint8).transpose(1, 2, 0)
