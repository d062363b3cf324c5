"""Accuracy under radiometric shifts, with a plain brightness classifier standing for a model."""

from __future__ import annotations

import numpy as np
import pytest

from eurosat_kedro.robustness import accuracy_under_shifts, shifts_from_params
from eurosat_kedro.stats import wilson_interval


def bright(images: np.ndarray) -> np.ndarray:
    """Label 1 for an image brighter than mid-grey on average, else 0."""
    return (images.reshape(len(images), -1).mean(axis=1) > 127.5).astype(np.int64)


def grey_images() -> tuple[np.ndarray, np.ndarray]:
    """Ten flat images 20 to 240; label 1 from 140 on (all right when clean)."""
    values = np.linspace(20, 240, 10).astype(np.uint8)
    images = np.repeat(values, 4 * 4 * 3).reshape(10, 4, 4, 3)
    return images, (values > 127.5).astype(np.int64)


def test_rows_hold_accuracy_interval_drop_and_changed_share():
    images, labels = grey_images()
    clean, darker, same = accuracy_under_shifts(
        bright, images, labels, [("gain", 0.5), ("jpeg", 95)], chunk=3
    )
    assert clean["name"] == "clean" and clean["accuracy"] == 1.0 and clean["drop"] == 0.0
    # halved, the 5 bright images (142 to 240) read as dark: 5 of 10 wrong
    assert darker["name"] == "gain_0.5" and darker["kind"] == "gain" and darker["value"] == 0.5
    assert darker["accuracy"] == 0.5 and darker["drop"] == 0.5 and darker["changed"] == 0.5
    assert (darker["ci_low"], darker["ci_high"]) == wilson_interval(5, 10)
    assert darker["ci_low"] < 0.5 < darker["ci_high"] and darker["n_images"] == 10
    assert same["accuracy"] == 1.0 and same["changed"] == 0.0  # flat images survive JPEG


def test_the_chunk_size_changes_nothing():
    images, labels = grey_images()
    shifts = [("offset", -30), ("haze", 0.4)]
    assert accuracy_under_shifts(bright, images, labels, shifts, chunk=1) == (
        accuracy_under_shifts(bright, images, labels, shifts, chunk=512)
    )


def test_shifts_come_in_parameter_order_once_each_and_none_when_off():
    settings = {"perturbations": {"gain": [0.8, 1.2, 0.8], "jpeg": 75}}
    assert shifts_from_params(settings) == [("gain", 0.8), ("gain", 1.2), ("jpeg", 75)]
    assert shifts_from_params({**settings, "enabled": False}) == []


def test_a_bad_parameter_is_named_before_anything_runs():
    with pytest.raises(
        ValueError,
        match=r"evaluation.robustness.perturbations.haze: a haze perturbation takes a strength "
        r"between 0 and 1 \(0: unchanged\), got 20",
    ):
        shifts_from_params({"perturbations": {"gain": [1.2], "haze": [0.2, 20]}})
    with pytest.raises(ValueError, match="must map a kind to a list of values"):
        shifts_from_params({"perturbations": ["gain", 1.2]})


def test_an_empty_test_split_is_refused():
    with pytest.raises(ValueError, match="the test split is empty"):
        accuracy_under_shifts(bright, np.zeros((0, 4, 4, 3), np.uint8), np.zeros(0), [])
