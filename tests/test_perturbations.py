"""The radiometric shifts do exactly what they say, on known pixels; NumPy and torch agree."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from eurosat_kedro import perturbations
from eurosat_kedro.perturbations import perturb, perturbation_name
from tests.conftest import tiny_arrays


def pixels(*values: int) -> np.ndarray:
    """One image per value, every pixel and channel that value."""
    return np.stack([np.full((4, 4, 3), v, dtype=np.uint8) for v in values])


@pytest.mark.parametrize(
    ("kind", "value", "before", "after"),
    [
        ("gain", 1.2, [0, 100, 250], [0, 120, 255]),  # 300 clipped to 255
        ("gain", 0.8, [101, 255], [81, 204]),  # 80.8 rounds to 81
        ("offset", -20, [10, 100], [0, 80]),  # -10 clipped to 0
        ("offset", 20, [100, 245], [120, 255]),
        ("gamma", 0.5, [0, 64, 255], [0, 128, 255]),  # 255 * sqrt(64 / 255) = 127.75
        ("haze", 0.4, [0, 200, 255], [80, 200, 233]),  # 255 * 0.6 + 80 = 233
    ],
)
def test_each_shift_maps_known_pixels_to_known_values(kind, value, before, after):
    out = perturb(pixels(*before), kind, value)
    assert out.dtype == np.uint8 and out.shape == (len(before), 4, 4, 3)
    assert out[:, 0, 0, 0].tolist() == after
    assert (out == out[:, :1, :1, :1]).all()  # every pixel of an image alike


def test_contrast_stretches_around_each_images_own_mean():
    images = np.zeros((2, 4, 4, 3), dtype=np.uint8)
    images[0, :2], images[0, 2:] = 100, 140  # mean 120
    images[1, :2], images[1, 2:] = 10, 30  # mean 20
    out = perturb(images, "contrast", 2.0)
    assert sorted(np.unique(out[0])) == [80, 160] and sorted(np.unique(out[1])) == [0, 40]
    assert (perturb(images, "contrast", 0.0)[0] == 120).all()  # factor 0: flat at the mean


@pytest.mark.parametrize(
    ("kind", "neutral"), [("gain", 1), ("offset", 0), ("gamma", 1.0), ("haze", 0), ("contrast", 1)]
)
def test_the_neutral_setting_changes_nothing(kind: str, neutral: float):
    images = tiny_arrays(2)["images"]
    assert np.array_equal(perturb(images, kind, neutral), images)


def test_jpeg_round_trip_keeps_shape_and_dtype_changes_pixels_more_at_lower_quality():
    images = tiny_arrays(1)["images"]
    at_75, at_50 = perturb(images, "jpeg", 75), perturb(images, "jpeg", 50)
    assert at_75.shape == images.shape and at_75.dtype == np.uint8
    error_75 = np.abs(at_75.astype(int) - images).mean()
    error_50 = np.abs(at_50.astype(int) - images).mean()
    assert 0 < error_75 < error_50 < 30
    assert np.array_equal(perturb(images, "jpeg", 75), at_75)  # deterministic


def test_the_formulas_give_numpy_and_torch_the_same_values():
    x = np.linspace(0, 255, 12, dtype=np.float32).reshape(2, 6)
    factor = np.array([[0.8], [1.25]], dtype=np.float32)  # one per image
    for formula in (perturbations.gain, perturbations.gamma, perturbations.haze):
        strength = factor - 0.8 if formula is perturbations.haze else factor
        expected = formula(x, strength)
        got = formula(torch.from_numpy(x), torch.from_numpy(strength)).numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        ("blur", 1.0, "unknown perturbation kind 'blur'; known: ['gain', 'offset'"),
        ("jpeg", 0, "a jpeg perturbation takes a quality from 1 to 95, got 0"),
        ("jpeg", 75.5, "a jpeg perturbation takes a quality from 1 to 95, got 75.5"),
        ("haze", 1.5, "a haze perturbation takes a strength between 0 and 1 (0: unchanged)"),
        ("gamma", 0, "a gamma perturbation takes an exponent above 0"),
        ("gain", True, "a gain perturbation takes a factor of 0 or more (1: unchanged), got True"),
    ],
)
def test_a_setting_it_cannot_take_is_named(kind: str, value, message: str):
    with pytest.raises(ValueError, match=rf"^{re.escape(message)}"):
        perturb(pixels(1), kind, value)


def test_only_uint8_rgb_images_are_taken():
    with pytest.raises(ValueError, match=r"expected uint8 \(N, H, W, 3\) RGB images, got float32"):
        perturb(pixels(1).astype(np.float32), "gain", 1.2)


def test_names_read_as_kind_and_value():
    assert [perturbation_name(k, v) for k, v in [("gain", 1.2), ("offset", -20), ("jpeg", 75)]] == [
        "gain_1.2",
        "offset_-20",
        "jpeg_75",
    ]
