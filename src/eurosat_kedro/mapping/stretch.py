"""Bring scene values to EuroSAT's 8-bit look: a linear stretch ``[low, high] -> [out_low, 255]``.

For Sentinel-2 the default is EuroSAT's own recipe (``radiometry``: the product's offset
removed, DN 0-2750 -> 1-255, 0 for nodata); ``linear`` and ``percentile`` stay for other
sensors. L2A (surface reflectance, e.g. BigEarthNet) is darker than the L1C EuroSAT was made
from, most in blue.
"""

from __future__ import annotations

import numpy as np

from .radiometry import QUANTIFICATION, eurosat_limits

STRETCH_TYPES = ("auto", "none", "eurosat", "linear", "percentile")
# float values whose valid pixels all lie below this are reflectance (0-1), not DN
REFLECTANCE_MAX = 2.0


def resolved_type(settings: dict, dtype: str) -> str:
    """The stretch type ``settings`` asks for, ``auto`` resolved: none for uint8 scenes,
    EuroSAT's recipe for everything else (Sentinel-2 DN or reflectance)."""
    kind = settings.get("type", "auto")
    if kind not in STRETCH_TYPES:
        raise ValueError(f"mapping.stretch.type {kind!r} is not one of {STRETCH_TYPES}")
    if kind == "auto":
        return "none" if dtype == "uint8" else "eurosat"
    return kind


def is_reflectance(dtype: str, sample: np.ndarray | None, valid: np.ndarray | None) -> bool:
    """Float values that all lie within 0-2: reflectance, to be scaled by 10000 to DN."""
    if not dtype.startswith("float") or sample is None:
        return False
    pixels = sample[:, valid] if valid is not None else sample.reshape(len(sample), -1)
    finite = pixels[np.isfinite(pixels)]
    return finite.size > 0 and float(finite.max()) <= REFLECTANCE_MAX


def choose_limits(
    settings: dict,
    dtype: str,
    sample: np.ndarray | None = None,
    valid: np.ndarray | None = None,
    offset: float | None = None,
) -> dict:
    """``{"type", "low", "high"}`` (and ``out_low``) from ``settings`` (``type``: auto, none,
    eurosat with the DN ``offset``, linear with ``min``/``max``, percentile with
    ``percentiles`` of ``sample``'s valid pixels).

    ``auto`` is ``none`` for uint8 scenes, ``eurosat`` otherwise.
    """
    kind = resolved_type(settings, dtype)
    if kind == "eurosat":
        if offset is None:
            raise ValueError("EuroSAT's stretch needs the scene's DN offset (mapping.offset)")
        scale = QUANTIFICATION if is_reflectance(dtype, sample, valid) else 1.0
        return eurosat_limits(offset, scale)
    if kind == "none":
        if dtype != "uint8":
            raise ValueError(
                f"the scene is {dtype}, not uint8: set mapping.stretch.type=eurosat "
                "(Sentinel-2), linear (with mapping.stretch.min/max) or percentile"
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


def to_uint8(values: np.ndarray, limits: dict, valid: np.ndarray | None = None) -> np.ndarray:
    """``(3, h, w)`` scene values -> uint8 ``(h, w, 3)`` RGB: ``[low, high]`` linearly to
    ``[out_low, 255]``, clipped; with ``out_low`` > 0 (EuroSAT's 1-255), pixels that are not
    ``valid`` get 0, EuroSAT's nodata."""
    if limits["type"] == "none" and values.dtype == np.uint8:
        return np.ascontiguousarray(values.transpose(1, 2, 0))
    low, high, out_low = limits["low"], limits["high"], limits.get("out_low", 0)
    scaled = out_low + (values.astype(np.float32) - low) * np.float32(
        (255.0 - out_low) / (high - low)
    )
    if values.dtype.kind == "f":  # NaN (float nodata) would become an arbitrary byte
        np.nan_to_num(scaled, copy=False, nan=out_low)
    rgb = np.rint(np.clip(scaled, out_low, 255)).astype(np.uint8)
    if out_low > 0 and valid is not None:
        rgb[:, ~valid] = 0
    return rgb.transpose(1, 2, 0)
