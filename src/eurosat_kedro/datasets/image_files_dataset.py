"""The image files a user asks the inference pipeline to classify."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError


def _visible_files(folder: Path) -> list[str]:
    return sorted(
        str(path)
        for path in folder.rglob("*")
        if path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    )


class ImageFilesDataset(AbstractDataset[Any, list[str]]):
    """Load the paths to classify: the file ``path``, or every file below the folder
    ``path`` (sorted, hidden files and folders skipped). Files are not read here: a file that
    is not an image gets its error row from the classifier. Read-only; ``parameter`` names
    the run parameter that sets ``path`` in error messages."""

    def __init__(
        self,
        path: str | None,
        parameter: str = "inference.image_path",
        pipeline: str = "inference",
        metadata: dict[str, Any] | None = None,
    ):
        self._path = path
        self._parameter = parameter
        self._pipeline = pipeline
        self.metadata = metadata

    def load(self) -> list[str]:
        if not self._path:
            raise DatasetError(
                f"Set the image or folder to predict: kedro run --pipelines {self._pipeline} "
                f'--params "{self._parameter}=PATH"'
            )
        path = Path(self._path).expanduser()
        if path.is_file():
            return [str(path)]
        if not path.is_dir():
            raise DatasetError(f"{self._parameter} {self._path!r}: no such file or folder")
        files = _visible_files(path)
        if not files:
            raise DatasetError(f"{self._parameter} {self._path!r} is a folder with no files")
        return files

    def save(self, data: Any) -> None:
        raise DatasetError(f"{self._parameter} names input files; they are not written")

    def _exists(self) -> bool:
        return bool(self._path) and Path(self._path).expanduser().exists()

    def _describe(self) -> dict[str, Any]:
        return {"path": self._path, "parameter": self._parameter}
