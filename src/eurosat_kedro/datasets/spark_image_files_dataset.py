"""The image files batch inference scores, read by Spark."""

from __future__ import annotations

import logging
from glob import has_magic
from pathlib import PurePosixPath
from typing import Any

import fsspec
from kedro.io import AbstractDataset, DatasetError

logger = logging.getLogger(__name__)

DEFAULT_EXTENSIONS = ("jpg", "jpeg", "png", "tif", "tiff")


def extension_filter(extensions: list[str]) -> str:
    """A Hadoop glob matching file names ending in any of ``extensions``, in any case."""

    def any_case(text: str) -> str:
        return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in text)

    return "*.{" + ",".join(any_case(e.lstrip(".")) for e in extensions) + "}"


def _hidden(name: str) -> bool:
    return name.startswith((".", "_"))


def empty_files(input_path: str, extensions: list[str]) -> list[str]:
    """The 0-byte image files below ``input_path`` (a folder or glob), named as Spark names
    them. Spark's file sources skip empty files, which would lose their rows."""
    fs, path = fsspec.core.url_to_fs(input_path)  # path: absolute, as find() names files
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    scheme = input_path.split("://")[0] if "://" in input_path else protocol
    suffixes = tuple("." + e.lstrip(".").lower() for e in extensions)
    found = []
    for top in fs.glob(path) if has_magic(path) else [path]:
        entries = fs.find(top, detail=True) if fs.isdir(top) else {top: fs.info(top)}
        for name, info in entries.items():
            relative = PurePosixPath(name).relative_to(PurePosixPath(top).parent).parts[1:]
            if (
                info.get("size")
                or not name.lower().endswith(suffixes)
                or any(_hidden(part) for part in relative or [PurePosixPath(name).name])
            ):
                continue
            found.append(f"file:{name}" if protocol in ("file", "local") else f"{scheme}://{name}")
    return sorted(found)


class SparkImageFilesDataset(AbstractDataset[Any, Any]):
    """Load a Spark DataFrame of ``path`` and ``content`` of every image file (one of
    ``extensions``, any case) below the folder ``path`` or matching the glob, on any
    filesystem Spark reads (local, hdfs://, s3a://, abfss://, dbfs:/ ...), with Spark's
    ``binaryFile`` source; hidden files (``.`` or ``_``) are skipped. Empty files, which Spark
    skips, are added with empty content, so each gets its error row. Read-only."""

    def __init__(
        self,
        path: str | None,
        extensions: list[str] = DEFAULT_EXTENSIONS,
        parameter: str = "batch_inference.input",
        metadata: dict[str, Any] | None = None,
    ):
        self._path = path
        self._extensions = list(extensions)
        self._parameter = parameter
        self.metadata = metadata

    def load(self):
        from pyspark.errors import AnalysisException

        from eurosat_kedro.spark import get_spark

        if not self._path:
            raise DatasetError(
                "Set the folder or glob to score: kedro run --pipelines batch_inference "
                f'--params "{self._parameter}=PATH"'
            )
        reader = (
            get_spark()
            .read.format("binaryFile")
            .option("recursiveFileLookup", "true")
            .option("pathGlobFilter", extension_filter(self._extensions))
        )
        try:
            files = reader.load(self._path).select("path", "content")
            empty = not files.select("path").head(1)
        except AnalysisException as error:
            if "PATH_NOT_FOUND" in str(error) or "does not exist" in str(error):
                raise DatasetError(
                    f"{self._parameter} {self._path!r}: no such folder, file or glob match"
                ) from error
            raise
        return self._with_empty_files(files, empty)

    def _with_empty_files(self, files, empty: bool):
        try:
            empty_ones = empty_files(self._path, self._extensions)
        except (ImportError, OSError, ValueError) as error:
            # e.g. s3a:// without s3fs: Spark reads it, fsspec cannot list it
            logger.warning("Empty files cannot be listed, so they get no row: %s", error)
            empty_ones = []
        if empty_ones:
            logger.warning("%d empty files (0 bytes), e.g. %s", len(empty_ones), empty_ones[0])
            spark = files.sparkSession
            return files.unionByName(
                spark.createDataFrame([(p, bytearray()) for p in empty_ones], files.schema)
            )
        if empty:
            raise DatasetError(
                f"{self._parameter} {self._path!r} holds no file ending in "
                f"{', '.join('.' + e for e in self._extensions)}"
            )
        return files

    def save(self, data: Any) -> None:
        raise DatasetError(f"{self._parameter} names input files; they are not written")

    def _describe(self) -> dict[str, Any]:
        return {"path": self._path, "extensions": self._extensions}
