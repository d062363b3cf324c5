"""Small data_processing nodes on in-memory input."""

from __future__ import annotations

import pandas as pd
import pytest

from eurosat_kedro.pipelines.data_processing.nodes import report_data, validate_classes


def test_classes_must_be_alphabetical():
    assert validate_classes(["A", "B"]) == ["A", "B"]
    with pytest.raises(ValueError, match="alphabetical"):
        validate_classes(["B", "A"])


def test_report_counts_per_split_and_lists_bad_files():
    splits = pd.DataFrame(
        {
            "path": ["A/1.jpg", "A/2.jpg", "B/1.jpg", "B/x.jpg"],
            "class_name": ["A", "A", "B", "B"],
            "valid": [True, True, True, False],
            "problem": ["", "", "", "not a readable image"],
            "split": ["train", "test", "val", "excluded"],
        }
    )
    report = report_data(splits, ["A", "B"])
    assert report["splits"] == {
        "train": {"A": 1, "B": 0},
        "val": {"A": 0, "B": 1},
        "test": {"A": 1, "B": 0},
    }
    assert report["bad_files"] == [{"path": "B/x.jpg", "problem": "not a readable image"}]
