"""The base of the project's datasets that are one local file or folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from kedro.io import AbstractDataset, DatasetError

_In = TypeVar("_In")
_Out = TypeVar("_Out")


class FileDataset(AbstractDataset[_In, _Out]):
    """A dataset stored at ``filepath``: subclasses add ``load`` and ``save`` (writing through
    ``eurosat_kedro.files.atomic_path``) and, for a folder, override ``_exists``."""

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None):
        self._filepath = Path(filepath)
        self.metadata = metadata

    def _require(self, produced_by: str) -> Path:
        """The path, or a DatasetError saying it is missing and what produces it."""
        if not self._exists():
            raise DatasetError(f"{self._filepath} does not exist: {produced_by}")
        return self._filepath

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
