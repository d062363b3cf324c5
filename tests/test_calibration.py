"""Temperature scaling, calibration error and the coverage threshold on synthetic logits."""

from __future__ import annotations

import numpy as np
import pytest

from eurosat_kedro import calibration
from eurosat_kedro.serving.predict import softmax


def _calibrated_logits(n: int, temperature: float, seed: int = 0):
    """Logits whose softmax at ``temperature`` is the true label distribution: labels are
    drawn from ``softmax(logits / temperature)``, so exactly that temperature calibrates."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 4, size=(n, 10))
    p = softmax(logits / temperature)
    labels = (p.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    return logits, labels


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.5])
def test_fitting_recovers_the_temperature_the_labels_were_drawn_with(temperature: float):
    logits, labels = _calibrated_logits(20_000, temperature)
    assert calibration.fit_temperature(logits, labels) == pytest.approx(temperature, rel=0.05)


def test_the_ece_of_a_calibrated_set_is_near_zero_and_of_an_overconfident_one_is_not():
    logits, labels = _calibrated_logits(20_000, 2.0, seed=1)
    predicted, confidence = calibration.top_class(logits, 2.0)
    assert calibration.expected_calibration_error(confidence, predicted == labels) < 0.015
    predicted, confidence = calibration.top_class(logits, 1.0)  # sharper than the truth
    assert calibration.expected_calibration_error(confidence, predicted == labels) > 0.05


def test_ece_by_hand_on_two_bins():
    confidence = np.array([0.95, 0.95, 0.95, 0.95, 0.55, 0.55])
    correct = np.array([True, True, True, False, True, False])
    # bin (0.933, 1]: accuracy 0.75 vs 0.95; bin (0.533, 0.6]: 0.5 vs 0.55
    expected = (4 * 0.2 + 2 * 0.05) / 6
    assert calibration.expected_calibration_error(confidence, correct) == pytest.approx(expected)
    bins = calibration.reliability_bins(confidence, correct)
    assert sum(row["count"] for row in bins) == 6 and bins[0]["accuracy"] is None


def test_the_threshold_answers_the_target_coverage():
    scores = np.linspace(0, 1, 1000)
    threshold = calibration.threshold_for_coverage(scores, 0.9)
    assert (scores >= threshold).mean() == pytest.approx(0.9, abs=0.002)
    assert calibration.threshold_for_coverage(scores, 1.0) == 0.0
    with pytest.raises(ValueError, match="coverage must be in"):
        calibration.threshold_for_coverage(scores, 0)


def test_accuracy_at_coverage_counts_only_answered_images():
    scores = np.array([0.9, 0.8, 0.3, 0.2])
    correct = np.array([True, True, False, True])
    row = calibration.accuracy_at_coverage(scores, correct, 0.5)
    assert row == {"threshold": 0.5, "coverage": 0.5, "answered": 2, "accuracy": 1.0}
    curve = calibration.risk_coverage_curve(scores, correct, (1.0, 0.5))
    assert [r["accuracy"] for r in curve] == [0.75, 1.0]


def test_the_energy_score_is_higher_for_confident_logits():
    logits = np.array([[10.0, 0, 0], [1.0, 0.9, 0.8]])
    energy = calibration.energy_score(logits)
    assert energy[0] > energy[1]


def test_a_calibration_fitted_without_tta_refuses_a_tta_run():
    fit = calibration.Calibration.from_dict({"temperature": 1.5, "tta": False})
    with pytest.raises(ValueError, match="evaluation.tta=false.*evaluation.tta=true"):
        fit.check_tta(True)
    with pytest.raises(ValueError, match="no temperature"):
        calibration.Calibration.from_dict({})
