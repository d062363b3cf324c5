"""The intervals and the paired test against hand-computed values, and the bootstrap's
coverage on a population whose macro F1 is known."""

from __future__ import annotations

import time
from math import sqrt

import numpy as np
import pytest
from sklearn.metrics import f1_score

from eurosat_kedro.stats import (
    macro_f1_interval,
    macro_f1_of_resamples,
    mcnemar_exact_p,
    wilson_interval,
)

Z = 1.959963984540054  # the standard normal's 97.5% quantile


def wilson_by_hand(k: int, n: int) -> tuple[float, float]:
    centre = (k + Z**2 / 2) / (n + Z**2)
    half = Z / (n + Z**2) * sqrt(k * (n - k) / n + Z**2 / 4)
    return centre - half, centre + half


@pytest.mark.parametrize(
    ("k", "n", "expected"),
    [
        (50, 100, (0.4038315, 0.5961685)),  # statsmodels proportion_confint(method="wilson")
        (3850, 3900, (0.9831387, 0.9902615)),  # 98.72% of the 3,900 test images
    ],
)
def test_wilson_interval_matches_the_formula(k, n, expected):
    assert wilson_interval(k, n) == pytest.approx(expected, abs=1e-7)
    assert wilson_interval(k, n) == pytest.approx(wilson_by_hand(k, n), abs=1e-12)


def test_wilson_interval_at_the_edges():
    assert wilson_interval(0, 0) == (0.0, 1.0)  # no images of the class: nothing known
    low, high = wilson_interval(0, 20)
    assert low == pytest.approx(0.0, abs=1e-12) and 0.1 < high < 0.2
    low, high = wilson_interval(20, 20)
    assert 0.8 < low < 0.9 and high == pytest.approx(1.0)


def test_the_resampled_macro_f1_is_sklearns():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 6, 300)  # classes 6..9 absent: F1 0, as sklearn's zero_division=0
    y_pred = np.where(rng.random(300) < 0.7, y_true, rng.integers(0, 10, 300))
    rows = np.stack([np.arange(300), rng.integers(0, 300, 300)])
    got = macro_f1_of_resamples(y_true, y_pred, rows, 10)
    for row, value in zip(rows, got, strict=True):
        expected = f1_score(
            y_true[row], y_pred[row], labels=range(10), average="macro", zero_division=0
        )
        assert value == pytest.approx(expected, abs=1e-12)


def test_the_bootstrap_is_seeded_brackets_the_estimate_and_is_fast():
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, 10, 3900)
    y_pred = np.where(rng.random(3900) < 0.97, y_true, rng.integers(0, 10, 3900))
    start = time.perf_counter()
    low, high = macro_f1_interval(y_true, y_pred, 10)
    seconds = time.perf_counter() - start
    estimate = f1_score(y_true, y_pred, average="macro")
    assert low < estimate < high and 0.005 < high - low < 0.02
    assert macro_f1_interval(y_true, y_pred, 10) == (low, high)  # seed 0 by default
    assert macro_f1_interval(y_true, y_pred, 10, seed=1) != (low, high)
    assert seconds < 5  # vectorised: about 0.1-0.3 s; a loop over resamples takes many seconds


def test_the_bootstrap_interval_covers_the_population_macro_f1():
    """Samples of 300 images from a 3-class population with a known confusion matrix: the
    95% interval holds the population's macro F1 in about 95% of them."""
    joint = np.array([[0.30, 0.03, 0.01], [0.04, 0.25, 0.04], [0.02, 0.05, 0.26]])
    joint /= joint.sum()
    population_f1 = np.mean(2 * np.diag(joint) / (joint.sum(1) + joint.sum(0)))
    rng = np.random.default_rng(7)
    trials, covered = 200, 0
    for _ in range(trials):
        cells = rng.choice(9, size=300, p=joint.ravel())
        low, high = macro_f1_interval(cells // 3, cells % 3, 3, resamples=500, seed=int(cells[0]))
        covered += low <= population_f1 <= high
    assert 0.88 <= covered / trials <= 0.995


def test_mcnemar_exact_p_is_the_two_sided_binomial_on_discordant_pairs():
    assert mcnemar_exact_p(0, 0) == 1.0
    assert mcnemar_exact_p(3, 3) == 1.0
    assert mcnemar_exact_p(0, 5) == pytest.approx(2 / 2**5)  # 5 of 5 the same way
    assert mcnemar_exact_p(5, 40) == mcnemar_exact_p(40, 5) == pytest.approx(7.8784e-08, rel=1e-4)
