"""Models side by side: each one's scores and McNemar's counts between each pair, in order."""

from __future__ import annotations

import numpy as np
import pytest

from eurosat_kedro.comparison import side_by_side
from eurosat_kedro.stats import mcnemar_exact_p


def test_each_pair_counts_the_images_only_one_of_them_gets_right():
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    first = np.array([0, 1, 2, 0, 1, 2, 1, 2])  # 6 right: wrong on the last two
    second = np.array([0, 1, 2, 1, 1, 2, 0, 1])  # 7 right: wrong on the 4th only
    figures = side_by_side({"a": first, "b": second, "c": first}, labels, num_classes=3)
    assert figures["n_images"] == 8 and list(figures["models"]) == ["a", "b", "c"]
    assert figures["models"]["a"]["accuracy"] == pytest.approx(6 / 8)
    assert figures["models"]["b"]["accuracy"] == pytest.approx(7 / 8)
    assert figures["pairs"]["a vs b"] == {"n01": 1, "n10": 2, "p_value": mcnemar_exact_p(1, 2)}
    assert figures["pairs"]["b vs c"] == {"n01": 2, "n10": 1, "p_value": mcnemar_exact_p(2, 1)}
    assert figures["pairs"]["a vs c"] == {"n01": 0, "n10": 0, "p_value": 1.0}
