"""The champion gate on paired per-image results: McNemar's exact test, the margin, and the
overrides (pure functions, no MLflow store)."""

from __future__ import annotations

from math import comb

import numpy as np
import pandas as pd
import pytest

from eurosat_kedro.champion_gate import (
    Candidate,
    PairedComparison,
    decide_alias,
    gate,
    gate_tags,
    pair_predictions,
)

SPLIT = "a" * 64


def paired(n01: int, n10: int, n_images: int = 3900, both_wrong: int = 40) -> PairedComparison:
    """A comparison on ``n_images`` test images with ``n01`` / ``n10`` discordant ones."""
    return PairedComparison(n_images - n01 - n10 - both_wrong, n01, n10, both_wrong)


def predictions(right: np.ndarray, seed: int = 0) -> pd.DataFrame:
    """Per-image predictions of 10 classes that are right exactly where ``right`` is."""
    n = len(right)
    labels = np.arange(n) % 10
    return pd.DataFrame(
        {
            "path": [f"Class{label}/img_{i}.jpg" for i, label in enumerate(labels)],
            "label": labels,
            "predicted": np.where(right, labels, (labels + 1 + seed % 9) % 10),
        }
    )


def test_equal_accuracy_is_refused():
    alias, why = gate(paired(20, 20), 0.0, 0.05)
    assert alias == "challenger" and "not better than the champion" in why
    assert "n10=20" in why and "n01=20" in why and "p=1" in why


def test_a_better_but_not_significant_margin_is_refused():
    comparison = paired(10, 13)  # 3 more images right of 3,900: +0.08 points
    expected_p = 2 * sum(comb(23, k) for k in range(11)) / 2**23  # 0.678
    assert comparison.p_value == pytest.approx(expected_p)
    alias, why = gate(comparison, 0.0, 0.05)
    assert alias == "challenger"
    assert "better by 0.08 points but not significantly" in why and "p=0.68" in why


def test_a_clearly_better_version_is_promoted():
    comparison = paired(5, 40)
    expected_p = 2 * sum(comb(45, k) for k in range(6)) / 2**45  # 7.9e-08
    assert comparison.p_value == pytest.approx(expected_p, rel=1e-9)
    assert comparison.gain_points == pytest.approx(100 * 35 / 3900)
    alias, why = gate(comparison, 0.0, 0.05)
    assert alias == "champion"
    assert "n10=40" in why and "n01=5" in why and "p=7.9e-08" in why
    assert "significantly better (p < 0.05) by 0.90 points" in why


def test_a_worse_or_equal_version_is_never_promoted():
    for n01 in range(0, 120, 7):
        for n10 in range(0, n01 + 1, 3):
            comparison = paired(n01, n10)
            for min_improvement in (0.0, 0.5):
                for alpha in (0.05, 0.999):
                    alias, _ = gate(comparison, min_improvement, alpha)
                    assert alias == "challenger", (n01, n10, min_improvement, alpha)


def test_promotion_needs_significance_and_the_margin_together():
    for n01 in range(0, 60, 4):
        for n10 in range(0, 90, 5):
            comparison = paired(n01, n10)
            for min_improvement in (0.0, 0.5, 1.0):
                alias, _ = gate(comparison, min_improvement, 0.05)
                promoted = (
                    n10 > n01
                    and comparison.p_value < 0.05
                    and 100 * (n10 - n01) / 3900 >= min_improvement
                )
                assert (alias == "champion") == promoted, (n01, n10, min_improvement)


def test_min_improvement_still_applies_to_a_significant_gain():
    comparison = paired(5, 40)  # significant, +0.90 points
    alias, why = gate(comparison, 1.0, 0.05)
    assert alias == "challenger"
    assert "by 0.90 points, less than deployment.registry.min_improvement=1.0" in why
    assert gate(comparison, 0.5, 0.05)[0] == "champion"


def test_predictions_are_paired_by_path_in_any_order():
    rng = np.random.default_rng(0)
    champion_right = rng.random(200) < 0.9
    new_right = champion_right.copy()
    new_right[:10] = True  # fixes some of the champion's errors
    new_right[10:14] = False  # and breaks some of its successes
    expected_n10 = int((new_right & ~champion_right).sum())
    expected_n01 = int((~new_right & champion_right).sum())
    new = predictions(new_right).sample(frac=1, random_state=1)  # shuffled rows
    comparison = pair_predictions(new, predictions(champion_right, seed=3))
    assert (comparison.n10, comparison.n01) == (expected_n10, expected_n01)
    assert comparison.n_images == 200
    assert comparison.new_accuracy == pytest.approx(new_right.mean())
    assert comparison.champion_accuracy == pytest.approx(champion_right.mean())


def test_predictions_on_other_images_or_labels_are_not_paired():
    base = predictions(np.ones(20, bool))
    other = base.copy()
    other.loc[3, "path"] = "Class3/another.jpg"
    with pytest.raises(ValueError, match=r"different images \(2 of 21 paths"):
        pair_predictions(other, base)
    relabelled = base.copy()
    relabelled.loc[0, "label"] = 9
    with pytest.raises(ValueError, match="different labels"):
        pair_predictions(relabelled, base)
    with pytest.raises(ValueError, match=r"need the columns \['path', 'label', 'predicted'\]"):
        pair_predictions(base.drop(columns="predicted"), base)


def _candidate(right: np.ndarray, split: str = SPLIT, version: str = "") -> Candidate:
    frame = predictions(right)
    return Candidate(float(right.mean()), split, frame, version)


CHAMPION_RIGHT = np.arange(400) >= 40  # 360 of 400 right


def test_decide_alias_pairs_the_versions_and_gates_them():
    better = CHAMPION_RIGHT.copy()
    better[:35] = True  # 35 of the champion's 40 errors fixed, nothing broken
    decision = decide_alias(_candidate(better), _candidate(CHAMPION_RIGHT), "auto", 0.0)
    assert decision.alias == "champion"
    assert (decision.comparison.n01, decision.comparison.n10) == (0, 35)
    slightly = CHAMPION_RIGHT.copy()
    slightly[:3] = True  # 3 more images right: not significant
    decision = decide_alias(_candidate(slightly), _candidate(CHAMPION_RIGHT), "auto", 0.0)
    assert decision.alias == "challenger" and "not significantly" in decision.reason
    assert gate_tags(decision, 0.05) == {
        "gate.decision": "challenger",
        "gate.n_images": "400",
        "gate.n01": "0",
        "gate.n10": "3",
        "gate.p_value": "0.25",
        "gate.alpha": "0.05",
    }


def test_the_first_version_becomes_champion():
    decision = decide_alias(_candidate(CHAMPION_RIGHT), None, "auto", 0.0)
    assert decision == ("champion", "first version: there was no champion", None)
    assert gate_tags(decision, 0.05) == {"gate.decision": "champion"}


def test_a_version_measured_on_another_split_is_not_compared():
    new = _candidate(np.ones(400, bool), split="b" * 64)
    decision = decide_alias(new, _candidate(CHAMPION_RIGHT), "auto", 0.0)
    assert decision.alias == "challenger" and "different test split" in decision.reason
    assert "promote=always" in decision.reason and decision.comparison is None


def test_a_champion_without_stored_predictions_is_not_replaced_blindly():
    champion = Candidate(0.5, SPLIT, None, "3")
    decision = decide_alias(_candidate(np.ones(400, bool)), champion, "auto", 0.0)
    assert decision.alias == "challenger"
    assert decision.reason.startswith(
        "the champion (version 3): it stores no per-image test predictions"
    )
    assert "promote=always" in decision.reason


def test_always_and_never_override_the_gate_and_still_record_the_comparison():
    worse = CHAMPION_RIGHT.copy()
    worse[50:90] = False
    decision = decide_alias(_candidate(worse), _candidate(CHAMPION_RIGHT), "always", 0.0)
    assert decision.alias == "champion" and decision.comparison.n01 == 40
    other_split = _candidate(np.ones(400, bool), split="b" * 64)
    assert decide_alias(other_split, _candidate(CHAMPION_RIGHT), "always", 0.0).alias == "champion"
    best = np.ones(400, bool)
    assert decide_alias(_candidate(best), _candidate(CHAMPION_RIGHT), "never", 0.0).alias == (
        "challenger"
    )
    assert decide_alias(_candidate(best), None, "never", 0.0).alias == "challenger"


def test_unknown_settings_name_the_parameter():
    new, champion = _candidate(CHAMPION_RIGHT), _candidate(CHAMPION_RIGHT)
    with pytest.raises(ValueError, match=r"promote must be one of \['auto', 'always', 'never'\]"):
        decide_alias(new, champion, "sometimes", 0.0)
    with pytest.raises(ValueError, match="deployment.registry.alpha must be between 0 and 1"):
        decide_alias(new, champion, "auto", 0.0, alpha=5)
