"""DownloadedArchiveDataset: fetched, verified and extracted on load; read-only."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from kedro.io import DatasetError

from eurosat_kedro.datasets import DownloadedArchiveDataset


def _dataset(tmp_path: Path, url: str, sha256: str | None = None) -> DownloadedArchiveDataset:
    return DownloadedArchiveDataset(
        filepath=str(tmp_path / "extracted"),
        archive_path=str(tmp_path / "raw" / "archive.zip"),
        url=url,
        sha256=sha256,
        retries=1,
    )


def test_load_fetches_verifies_and_extracts_once(tmp_path: Path, tiny_zip: Path):
    sha = hashlib.sha256(tiny_zip.read_bytes()).hexdigest()
    dataset = _dataset(tmp_path, tiny_zip.as_uri(), sha.upper())
    assert not dataset.exists()
    folder = dataset.load()
    assert folder == tmp_path / "extracted" and dataset.exists()
    assert len(list(folder.rglob("*.jpg"))) == 60
    assert (tmp_path / "raw" / "archive.zip").read_bytes() == tiny_zip.read_bytes()
    tiny_zip.unlink()  # present and verified: a second load fetches nothing
    assert dataset.load() == folder


def test_describe_names_the_source(tmp_path: Path):
    described = _dataset(tmp_path, "file:///x/EuroSAT_RGB.zip", "c" * 64)._describe()
    assert described == {
        "filepath": str(tmp_path / "extracted"),
        "archive_path": str(tmp_path / "raw" / "archive.zip"),
        "url": "file:///x/EuroSAT_RGB.zip",
        "sha256": "c" * 64,
    }


@pytest.mark.parametrize(
    ("url", "sha", "message"),
    [
        ("", None, "data.archive_url is empty"),
        ("/x.zip", "1234", "64 hex digits"),
    ],
)
def test_bad_source_settings_are_refused_before_any_work(tmp_path: Path, url, sha, message):
    with pytest.raises(DatasetError, match=message):
        _dataset(tmp_path, url, sha)


def test_unsupported_scheme_is_refused(tmp_path: Path):
    from eurosat_kedro.data.download import DownloadError

    with pytest.raises(DownloadError, match="Unsupported URL scheme 's3x'"):
        _dataset(tmp_path, "s3x://bucket/x.zip")


def test_missing_source_says_how_to_run_offline(tmp_path: Path):
    with pytest.raises(DatasetError, match="no such file.*--env sample"):
        _dataset(tmp_path, str(tmp_path / "missing.zip")).load()


def test_a_non_zip_is_refused_with_the_fix(tmp_path: Path):
    fake = tmp_path / "EuroSAT_RGB.zip"
    fake.write_bytes(b"<html>rate limited</html>")
    with pytest.raises(DatasetError, match="is not a zip archive.*data.archive_url"):
        _dataset(tmp_path, str(fake)).load()


def test_save_is_refused(tmp_path: Path, tiny_zip: Path):
    with pytest.raises(DatasetError, match="fetched from .* on load"):
        _dataset(tmp_path, str(tiny_zip)).save(tiny_zip)
