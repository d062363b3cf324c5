"""The champion gate and the test-split fingerprint (no MLflow store needed)."""

from __future__ import annotations

import numpy as np
import pytest

from eurosat_kedro.registry import Candidate, decide_alias, split_fingerprint

SPLIT = "a" * 64
CHAMPION = Candidate(0.90, SPLIT)


@pytest.mark.parametrize(
    ("accuracy", "min_improvement", "alias"),
    [
        (0.95, 0.0, "champion"),  # better
        (0.90, 0.0, "challenger"),  # equal is not better
        (0.85, 0.0, "challenger"),  # worse
        (0.905, 1.0, "challenger"),  # better by 0.5 points, 1 required
        (0.92, 1.0, "champion"),  # better by 2 points
    ],
)
def test_auto_promotes_only_a_model_better_on_the_same_split(accuracy, min_improvement, alias):
    chosen, why = decide_alias(Candidate(accuracy, SPLIT), CHAMPION, "auto", min_improvement)
    assert chosen == alias
    assert f"{accuracy:.4f}" in why and "0.9000" in why


def test_a_worse_model_never_becomes_champion_by_accident():
    for accuracy in np.linspace(0.0, 0.9, 19):
        for min_improvement in (0.0, 0.5, 5.0):
            chosen, _ = decide_alias(
                Candidate(float(accuracy), SPLIT), CHAMPION, "auto", min_improvement
            )
            assert chosen == "challenger"


def test_the_first_version_becomes_champion():
    assert decide_alias(Candidate(0.1, SPLIT), None, "auto", 0.0) == (
        "champion",
        "first version: there was no champion",
    )


def test_a_model_measured_on_another_split_is_not_compared():
    chosen, why = decide_alias(Candidate(0.99, "b" * 64), CHAMPION, "auto", 0.0)
    assert chosen == "challenger" and "different test split" in why
    assert "promote=always" in why


def test_always_and_never_override_the_gate():
    assert decide_alias(Candidate(0.1, "b" * 64), CHAMPION, "always", 0.0)[0] == "champion"
    assert decide_alias(Candidate(0.99, SPLIT), CHAMPION, "never", 0.0)[0] == "challenger"
    assert decide_alias(Candidate(0.99, SPLIT), None, "never", 0.0)[0] == "challenger"


def test_an_unknown_promote_setting_names_the_choices():
    with pytest.raises(ValueError, match=r"promote must be one of \['auto', 'always', 'never'\]"):
        decide_alias(Candidate(0.99, SPLIT), CHAMPION, "sometimes", 0.0)


def _split(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "images": rng.integers(0, 256, (4, 64, 64, 3), dtype=np.uint8),
        "labels": np.array([0, 1, 2, 3]),
        "paths": np.array(
            [
                "Forest/Forest_1.jpg",
                "River/River_1.jpg",
                "SeaLake/SeaLake_1.jpg",
                "Highway/Highway_1.jpg",
            ]
        ),
    }


def test_the_fingerprint_changes_with_any_pixel_label_or_path():
    base = split_fingerprint(_split())
    assert base == split_fingerprint(_split()) and len(base) == 64
    changed = _split()
    changed["images"][2, 10, 10, 1] ^= 1
    assert split_fingerprint(changed) != base
    changed = _split()
    changed["labels"][0] = 5
    assert split_fingerprint(changed) != base
    changed = _split()
    changed["paths"][3] = "Highway/Highway_2.jpg"
    assert split_fingerprint(changed) != base
