"""Datasets for the raw archive: fetched (DVC first, then the URL) and extracted on save."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from eurosat_kedro.data import archive, download, dvc_remote

logger = logging.getLogger(__name__)


class DownloadedFileDataset(AbstractDataset[dict, Path]):
    """A file fetched from a source on save; load returns its verified local path.

    ``save({"url": ..., "sha256": ...})`` first tries ``dvc pull`` when ``<filepath>.dvc``
    exists and a DVC remote is configured, then the URL (http(s), ``file://`` or a local
    path), resuming, verifying and writing atomically. An already present, verified file is
    not fetched again.
    """

    def __init__(self, filepath: str, retries: int = 5, timeout: float = 30.0,
                 metadata: dict[str, Any] | None = None):
        self._filepath = Path(filepath)
        self._retries = retries
        self._timeout = timeout
        self.metadata = metadata

    def load(self) -> Path:
        if not self._filepath.is_file():
            raise DatasetError(
                f"{self._filepath} does not exist: run `kedro run --pipeline data_processing` "
                "(or `--env sample`) to fetch it."
            )
        return self._filepath

    def save(self, data: dict) -> None:
        url, sha256 = data["url"], data.get("sha256")
        if download.is_current(self._filepath, url, sha256):
            logger.info("%s is present and verified; not fetching it again", self._filepath)
            return
        if dvc_remote.try_pull(self._filepath):
            download.verify(self._filepath, sha256, f"DVC copy of {self._filepath}")
            download.record_source(self._filepath, url, via="dvc")
            return
        download.fetch(url, self._filepath, sha256, retries=self._retries, timeout=self._timeout)

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}


class ExtractedArchiveDataset(AbstractDataset[Path, Path]):
    """A folder that holds an extracted zip: save(archive path) extracts safely and only once."""

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None):
        self._path = Path(filepath)
        self.metadata = metadata

    def load(self) -> Path:
        if not (self._path / archive.MARKER).is_file():
            raise DatasetError(
                f"{self._path} holds no extracted archive: run the data_processing pipeline."
            )
        return self._path

    def save(self, data: Path) -> None:
        archive.extract(Path(data), self._path)

    def _exists(self) -> bool:
        return (self._path / archive.MARKER).is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._path)}
