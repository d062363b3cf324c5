"""The raw images: a zip archive fetched (DVC first, then its URL), verified and extracted on
first load, the way torchgeo's datasets own their download."""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from eurosat_kedro.data import archive, download, dvc_remote

logger = logging.getLogger(__name__)


class DownloadedArchiveDataset(AbstractDataset[Any, Path]):
    """A zip archive's extracted folder; ``load()`` fetches and extracts it when needed.

    On load: unless ``archive_path`` already holds the verified bytes of ``url``, they are
    pulled from DVC (when ``<archive_path>.dvc`` exists and a remote is configured) or fetched
    from ``url`` (http(s), ``file://`` or a local path; resumed, checked against ``sha256``,
    written atomically); then the archive is extracted safely, once, into ``filepath``, whose
    path is returned. Read-only: there is nothing to save.
    """

    def __init__(
        self,
        filepath: str,
        archive_path: str,
        url: str,
        sha256: str | None = None,
        retries: int = 5,
        timeout: float = 30.0,
        metadata: dict[str, Any] | None = None,
    ):
        if not url:
            raise DatasetError(f"data.archive_url is empty. {download.HINT}")
        download.local_path_of(url)  # rejects unsupported schemes before any work
        sha = (sha256 or "").strip().lower() or None
        if sha and (len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha)):
            raise DatasetError(f"data.archive_sha256 must be 64 hex digits or null, got {sha256!r}")
        self._path = Path(filepath)
        self._archive = Path(archive_path)
        self._url, self._sha256 = url, sha
        self._retries, self._timeout = retries, timeout
        self.metadata = metadata

    def load(self) -> Path:
        self._fetch()
        if not zipfile.is_zipfile(self._archive):
            raise archive.ArchiveError(
                f"{self._archive} is not a zip archive (truncated or not EuroSAT_RGB.zip?). "
                "Delete it and run again, or point data.archive_url at the EuroSAT RGB zip."
            )
        return archive.extract(self._archive, self._path)

    def _fetch(self) -> None:
        if download.is_current(self._archive, self._url, self._sha256):
            logger.info("%s is present and verified; not fetching it again", self._archive)
        elif dvc_remote.try_pull(self._archive):
            download.verify(self._archive, self._sha256, f"DVC copy of {self._archive}")
            download.record_source(self._archive, self._url, via="dvc")
        else:
            download.fetch(
                self._url, self._archive, self._sha256, retries=self._retries, timeout=self._timeout
            )

    def save(self, data: Any) -> None:
        raise DatasetError(f"{self._path} is fetched from {self._url} on load; it is not saved")

    def _exists(self) -> bool:
        return (self._path / archive.MARKER).is_file()

    def _describe(self) -> dict[str, Any]:
        return {
            "filepath": str(self._path),
            "archive_path": str(self._archive),
            "url": self._url,
            "sha256": self._sha256,
        }
