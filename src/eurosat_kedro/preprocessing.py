"""The one definition of how an image becomes model input; NumPy and Pillow only (no torch).

Training, evaluation, ONNX parity, CLI inference and the served model all call these, so the
served model sees exactly what the evaluated model saw.
"""

from __future__ import annotations

import numpy as np

IMAGE_SIZE = 64
# The largest image any reader decodes (indexing, serving, CLI inference): larger ones are
# refused from their header, before decoding, as possible decompression bombs.
MAX_PIXELS = 4096 * 4096
# The smallest side accepted: a smaller image holds too little to be resized into a tile.
MIN_SIDE = 16
# Pillow modes of at most 8 bits a channel, which it converts to RGB faithfully. It clips
# 16-bit, 32-bit and float images ("I;16", "I", "F") to 0-255 instead, which turns a typical
# 16-bit satellite tile into a white square, so those are refused.
EIGHT_BIT_MODES = frozenset(
    {"1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB", "HSV"}
)
# ImageNet statistics (0-255 scale): what torchvision's pretrained weights expect, and a
# sound fixed choice when training from scratch.
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32) * 255.0
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32) * 255.0
_MEAN_NCHW, _STD_NCHW = MEAN.reshape(1, 3, 1, 1), STD.reshape(1, 3, 1, 1)


def normalize(images: np.ndarray) -> np.ndarray:
    """uint8 ``(N, 64, 64, 3)`` RGB images -> float32 ``(N, 3, 64, 64)`` normalised input."""
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected (N, H, W, 3) RGB images, got shape {images.shape}")
    # written channels-first in one pass into one array, computed in float32 as
    # ``(images.astype(float32) - MEAN) / STD`` (the same values, bit for bit): several times
    # faster than converting, scaling and then transposing a copy
    out = np.empty((images.shape[0], 3, *images.shape[1:3]), np.float32)
    np.subtract(images.transpose(0, 3, 1, 2), _MEAN_NCHW, out=out, dtype=np.float32)
    return np.divide(out, _STD_NCHW, out=out)


def to_rgb_tile(image, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """A Pillow image -> uint8 ``(64, 64, 3)`` RGB, the way serving and CLI inference see it.

    64x64 RGB images are taken as they are (the evaluated path). Grayscale, palette, RGBA and
    CMYK images are converted to RGB; other sizes are resized (bilinear, antialiased).
    Raises ValueError for images larger than ``max_pixels`` (decompression bombs), with a
    side under ``MIN_SIDE`` pixels, or of more than 8 bits a channel (not ``EIGHT_BIT_MODES``).
    """
    from PIL import Image  # Pillow is only needed where files are decoded

    width, height = image.size
    if width * height > max_pixels:
        raise ValueError(
            f"image is {width}x{height} pixels, more than the {max_pixels} allowed "
            "(possible decompression bomb)"
        )
    if min(width, height) < MIN_SIDE:
        raise ValueError(
            f"image is {width}x{height} pixels: too small to classify (the model "
            f"sees {IMAGE_SIZE}x{IMAGE_SIZE} tiles; at least {MIN_SIDE} pixels a "
            "side are accepted)"
        )
    if image.mode not in EIGHT_BIT_MODES:
        raise ValueError(
            f"image mode {image.mode} has more than 8 bits a channel, which the model does not "
            "take: stretch it to 8-bit RGB first (as mapping.stretch does for scenes)"
        )
    if image.mode != "RGB":
        image = image.convert("RGB")
    if image.size != (IMAGE_SIZE, IMAGE_SIZE):
        image = image.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.uint8)
