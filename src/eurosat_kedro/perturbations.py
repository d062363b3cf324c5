"""Controlled radiometric shifts of images: what another sensor, season, atmosphere or
compression does to a tile. NumPy and Pillow only (no torch).

The formulas work on the 0-255 scale, on NumPy arrays and torch tensors alike (with factors
that broadcast, e.g. one per image), so evaluation's fixed shifts (``perturb``) and training's
random photometric augmentation (``training.augment.photometric``) are the same operations.
"""

from __future__ import annotations

import io

import numpy as np

# The bright grey that haze blends towards (0-255): thin cloud or aerosol over a scene.
HAZE_GREY = 200.0


def gain(x, factor):
    """Brightness gain: every value times ``factor`` (1: unchanged)."""
    return x * factor


def offset(x, shift):
    """Additive offset: ``shift`` added to every value, on the 0-255 scale (0: unchanged)."""
    return x + shift


def contrast(x, factor, mean):
    """Contrast around ``mean`` (an image's mean value): stretched when ``factor`` > 1."""
    return mean + (x - mean) * factor


def gamma(x, exponent):
    """Gamma: ``255 * (x / 255) ** exponent`` (1: unchanged; < 1 brightens the shadows)."""
    return 255.0 * (x.clip(0.0, 255.0) / 255.0) ** exponent


def haze(x, strength):
    """Haze: a blend towards ``HAZE_GREY``, ``x * (1 - strength) + strength * HAZE_GREY``."""
    return x * (1.0 - strength) + strength * HAZE_GREY


def jpeg(images: np.ndarray, quality: int) -> np.ndarray:
    """uint8 ``(N, H, W, 3)`` images encoded as JPEG at ``quality`` (1-95, Pillow's default
    4:2:0 chroma subsampling) and decoded again: the same shape and dtype, compression
    artefacts added."""
    from PIL import Image  # Pillow is only needed for this kind

    out = np.empty_like(images)
    for i, image in enumerate(images):
        buffer = io.BytesIO()
        Image.fromarray(image, "RGB").save(buffer, format="JPEG", quality=int(quality))
        out[i] = np.asarray(Image.open(buffer).convert("RGB"))
    return out


POINTWISE = {"gain": gain, "offset": offset, "gamma": gamma, "haze": haze}
KINDS = (*POINTWISE, "contrast", "jpeg")
# What each kind's value may be, as a test and in words.
_ALLOWED = {
    "gain": (lambda v: v >= 0, "a factor of 0 or more (1: unchanged)"),
    "offset": (lambda v: -255 <= v <= 255, "a shift between -255 and 255 (0: unchanged)"),
    "contrast": (lambda v: v >= 0, "a factor of 0 or more (1: unchanged)"),
    "gamma": (lambda v: v > 0, "an exponent above 0 (1: unchanged)"),
    "haze": (lambda v: 0 <= v <= 1, "a strength between 0 and 1 (0: unchanged)"),
    "jpeg": (lambda v: float(v).is_integer() and 1 <= v <= 95, "a quality from 1 to 95"),
}


def check_setting(kind: str, value) -> None:
    """Raise ValueError unless ``kind`` is one of ``KINDS`` and ``value`` a number it takes."""
    if kind not in _ALLOWED:
        raise ValueError(f"unknown perturbation kind {kind!r}; known: {list(KINDS)}")
    allowed, wanted = _ALLOWED[kind]
    if isinstance(value, bool) or not isinstance(value, int | float) or not allowed(value):
        raise ValueError(f"a {kind} perturbation takes {wanted}, got {value!r}")


def perturb(images: np.ndarray, kind: str, value: float) -> np.ndarray:
    """uint8 ``(N, H, W, 3)`` RGB images shifted by ``kind`` (``KINDS``) at ``value``, rounded
    and clipped back to uint8: the same shape and dtype. Deterministic. Raises ValueError
    for an unknown kind or a value it does not take (``check_setting``)."""
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(
            f"expected uint8 (N, H, W, 3) RGB images, got {images.dtype} {images.shape}"
        )
    check_setting(kind, value)
    if kind == "jpeg":
        return jpeg(images, int(value))
    pixels = images.astype(np.float32)
    if kind == "contrast":
        shifted = contrast(pixels, value, pixels.mean(axis=(1, 2, 3), keepdims=True))
    else:
        shifted = POINTWISE[kind](pixels, value)
    return np.rint(shifted).clip(0, 255).astype(np.uint8)


def perturbation_name(kind: str, value: float) -> str:
    """``gain_1.2``, ``offset_-20``, ``jpeg_75``: a row of the report, an MLflow metric key."""
    return f"{kind}_{value:g}"
