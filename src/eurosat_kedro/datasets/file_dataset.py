"""The base of the project's datasets that are one local file or folder, versioned the Kedro
way when the catalog entry says ``versioned: true``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from kedro.io import AbstractVersionedDataset, DatasetError, Version
from kedro.io.core import VersionNotFoundError

_In = TypeVar("_In")
_Out = TypeVar("_Out")


class FileDataset(AbstractVersionedDataset[_In, _Out]):
    """A dataset stored at ``filepath``. Subclasses add ``load`` (reading
    ``self._require(...)``) and ``save`` (writing ``self._get_save_path()`` through
    ``eurosat_kedro.files.atomic_path``) and, for a folder, override ``_is_complete``.

    With ``versioned: true`` in the catalog, Kedro passes a ``version``: each save writes
    ``<filepath>/<timestamp>/<name>``, and a load reads the latest complete version, or the
    one named by ``kedro run --load-versions <dataset>:<timestamp>``. A version being
    written is a hidden temporary name until it is complete, so it is never "the latest".
    """

    def __init__(
        self,
        filepath: str,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        super().__init__(Path(filepath), version, exists_function=self._is_complete)
        self.metadata = metadata

    @staticmethod
    def _is_complete(path: str | Path) -> bool:
        """Whether ``path`` holds a complete copy (a folder dataset checks its marker file)."""
        return Path(path).is_file()

    def _require(self, produced_by: str) -> Path:
        """The path to load, or a DatasetError saying it is missing and what produces it."""
        try:
            path = Path(self._get_load_path())
        except VersionNotFoundError:
            raise DatasetError(
                f"{self._filepath} does not exist (versioned: no version under it): {produced_by}"
            ) from None
        if not self._is_complete(path):
            where = ""
            if self._version:
                found = self.list_versions(full_path=False)
                where = f" (versions under {self._filepath}: {found or 'none'})"
            raise DatasetError(f"{path} does not exist{where}: {produced_by}")
        return path

    def _exists(self) -> bool:
        return self._is_complete(self._get_load_path())

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "version": self._version}
