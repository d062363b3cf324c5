"""Small data_processing nodes on in-memory input."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from eurosat_kedro.data.archive import ArchiveError
from eurosat_kedro.pipelines.data_processing.nodes import (
    build_data_report,
    check_archive,
    describe_archive_source,
    validate_classes,
)


def test_source_is_normalised():
    source = describe_archive_source("file:///x/EuroSAT_RGB.zip", " AB" * 1 + "c" * 62)
    assert source == {"url": "file:///x/EuroSAT_RGB.zip", "sha256": "ab" + "c" * 62}
    assert describe_archive_source("/x.zip", None)["sha256"] is None


@pytest.mark.parametrize(("url", "sha", "message"), [
    ("", None, "data.archive_url is empty"),
    ("/x.zip", "1234", "64 hex digits"),
    ("s3x://bucket/x.zip", None, "Unsupported URL scheme"),
])
def test_bad_source_parameters(url, sha, message):
    with pytest.raises(Exception, match=message):
        describe_archive_source(url, sha)


def test_check_archive_refuses_a_non_zip(tmp_path: Path):
    fake = tmp_path / "EuroSAT_RGB.zip"
    fake.write_bytes(b"<html>rate limited</html>")
    with pytest.raises(ArchiveError, match="is not a zip archive"):
        check_archive(fake)


def test_classes_must_be_alphabetical():
    assert validate_classes(["A", "B"]) == ["A", "B"]
    with pytest.raises(ValueError, match="alphabetical"):
        validate_classes(["B", "A"])


def test_report_counts_per_split_and_lists_bad_files():
    splits = pd.DataFrame({
        "path": ["A/1.jpg", "A/2.jpg", "B/1.jpg", "B/x.jpg"],
        "class_name": ["A", "A", "B", "B"],
        "valid": [True, True, True, False],
        "problem": ["", "", "", "not a readable image"],
        "split": ["train", "test", "val", "excluded"],
    })
    report = build_data_report(splits, ["A", "B"])
    assert report["splits"] == {"train": {"A": 1, "B": 0}, "val": {"A": 0, "B": 1},
                                "test": {"A": 1, "B": 0}}
    assert report["bad_files"] == [{"path": "B/x.jpg", "problem": "not a readable image"}]
