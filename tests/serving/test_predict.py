"""serving/predict.py: logits -> the answer columns, in plain Python values."""

from __future__ import annotations

import numpy as np
import pytest

from eurosat_kedro.serving.predict import describe, softmax

CLASSES = ["a", "b", "c", "d"]


def test_softmax_rows_sum_to_one_in_float64():
    probabilities = softmax(np.array([[1000.0, 0.0, -1000.0, 5.0]], np.float32))
    assert probabilities.dtype == np.float64
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)


def test_each_row_answers_its_class_probability_and_topk():
    probabilities = np.array([[0.1, 0.6, 0.2, 0.1], [0.7, 0.1, 0.1, 0.1]])
    out = describe(probabilities, CLASSES, 2)
    assert out["predicted_class"] == ["b", "a"]
    assert out["probability"] == [0.6, 0.7]
    assert out["probabilities"][0] == {"a": 0.1, "b": 0.6, "c": 0.2, "d": 0.1}
    assert out["topk"][0] == [
        {"class": "b", "probability": 0.6},
        {"class": "c", "probability": 0.2},
    ]
    values = [out["probability"][0], *out["probabilities"][0].values()]
    assert all(type(value) is float for value in values)  # JSON-ready, not numpy floats


def test_ties_keep_the_class_order():
    out = describe(np.array([[0.25, 0.25, 0.25, 0.25]]), CLASSES, 3)
    assert [item["class"] for item in out["topk"][0]] == ["a", "b", "c"]
    assert out["predicted_class"] == ["a"]


@pytest.mark.parametrize(("k", "n"), [(0, 1), (1, 1), (4, 4), (99, 4)])
def test_k_is_clamped_to_the_classes(k, n):
    assert len(describe(np.full((1, 4), 0.25), CLASSES, k)["topk"][0]) == n


def test_no_rows_no_answers():
    assert describe(np.zeros((0, 4)), CLASSES, 3) == {
        "predicted_class": [],
        "probability": [],
        "probabilities": [],
        "topk": [],
    }
