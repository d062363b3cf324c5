"""preprocessing.py: how any image becomes the model's 64x64 RGB tile and its normalised input."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from eurosat_kedro.preprocessing import (
    IMAGE_SIZE,
    MAX_PIXELS,
    MEAN,
    MIN_SIDE,
    STD,
    normalize,
    to_rgb_tile,
)


def _noise(size: tuple[int, int] = (64, 64), seed: int = 0) -> np.ndarray:
    """uint8 ``(height, width, 3)`` random pixels."""
    return np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)


def test_normalize_is_channels_first_float32_per_channel_statistics():
    images = np.stack([_noise(seed=1), _noise(seed=2)])
    out = normalize(images)
    assert out.shape == (2, 3, 64, 64) and out.dtype == np.float32 and out.flags.c_contiguous
    for channel in range(3):
        expected = (images[..., channel].astype(np.float32) - MEAN[channel]) / STD[channel]
        np.testing.assert_allclose(out[:, channel], expected, rtol=1e-6)


def test_normalize_maps_the_mean_pixel_to_zero():
    mean_image = np.broadcast_to(MEAN, (1, 64, 64, 3))
    np.testing.assert_allclose(normalize(mean_image), 0, atol=1e-5)


@pytest.mark.parametrize("shape", [(64, 64, 3), (1, 64, 64), (1, 64, 64, 4), (1, 3, 64, 64)])
def test_normalize_refuses_what_is_not_a_batch_of_rgb_images(shape):
    with pytest.raises(ValueError, match=r"expected \(N, H, W, 3\) RGB images, got shape"):
        normalize(np.zeros(shape, np.uint8))


def test_a_64x64_rgb_image_is_taken_pixel_for_pixel():
    pixels = _noise()
    tile = to_rgb_tile(Image.fromarray(pixels, "RGB"))
    assert tile.dtype == np.uint8 and tile.shape == (IMAGE_SIZE, IMAGE_SIZE, 3)
    np.testing.assert_array_equal(tile, pixels)


@pytest.mark.parametrize("size", [(MIN_SIDE, MIN_SIDE), (100, 50), (50, 100), (300, 300)])
def test_other_sizes_are_resized_whole_to_64x64(size):
    """A uniform image stays uniform: resized (stretched, not cropped or padded)."""
    tile = to_rgb_tile(Image.new("RGB", size, (200, 100, 50)))
    assert tile.shape == (IMAGE_SIZE, IMAGE_SIZE, 3)
    assert (tile == [200, 100, 50]).all()


def test_resizing_keeps_where_things_are():
    """The left half red and the right half blue stay so at 64x64 (no flip, no transpose)."""
    pixels = np.zeros((128, 256, 3), np.uint8)
    pixels[:, :128] = (255, 0, 0)
    pixels[:, 128:] = (0, 0, 255)
    tile = to_rgb_tile(Image.fromarray(pixels, "RGB"))
    assert (tile[:, :30] == [255, 0, 0]).all() and (tile[:, 34:] == [0, 0, 255]).all()


@pytest.mark.parametrize(
    ("mode", "color", "rgb"),
    [
        ("L", 90, (90, 90, 90)),
        ("LA", (90, 0), (90, 90, 90)),  # alpha dropped, not composited
        ("RGBA", (200, 10, 10, 0), (200, 10, 10)),
        ("1", 1, (255, 255, 255)),
        ("CMYK", (0, 255, 255, 0), (255, 0, 0)),  # no cyan, full magenta and yellow: red
        ("P", None, (0, 0, 255)),
    ],
)
def test_8bit_modes_are_converted_to_rgb(mode, color, rgb):
    if mode == "P":
        image = Image.new("RGB", (64, 64), (0, 0, 255)).convert("P")
    else:
        image = Image.new(mode, (64, 64), color)
    tile = to_rgb_tile(image)
    assert tile.shape == (64, 64, 3) and tile.dtype == np.uint8
    assert (tile == rgb).all()


@pytest.mark.parametrize("mode", ["I;16", "I", "F"])
def test_images_of_more_than_8_bits_a_channel_are_refused(mode):
    """Pillow would clip them to 0-255 (a 16-bit tile of 1000-4000 becomes white)."""
    image = Image.fromarray(np.full((64, 64), 3000, np.uint16)).convert(mode)
    assert image.mode == mode
    with pytest.raises(ValueError, match=f"image mode {mode} has more than 8 bits a channel"):
        to_rgb_tile(image)


@pytest.mark.parametrize("size", [(MIN_SIDE - 1, 64), (64, MIN_SIDE - 1), (1, 1)])
def test_a_side_under_min_side_is_refused(size):
    with pytest.raises(ValueError, match=rf"is {size[0]}x{size[1]} pixels: too small to classify"):
        to_rgb_tile(Image.new("RGB", size))


def test_more_pixels_than_allowed_are_refused_before_decoding():
    to_rgb_tile(Image.new("RGB", (20, 20)), max_pixels=400)  # exactly the limit: taken
    with pytest.raises(ValueError, match="is 21x20 pixels, more than the 400 allowed"):
        to_rgb_tile(Image.new("RGB", (21, 20)), max_pixels=400)


def test_the_default_limit_is_max_pixels():
    class Header:  # the size is all that is read before the refusal: nothing is decoded
        size = (4097, 4096)
        mode = "RGB"

    with pytest.raises(ValueError, match=f"more than the {MAX_PIXELS} allowed.*decompression"):
        to_rgb_tile(Header())
