"""Where the raw archive came from, read from the archive and what its download recorded:
the lineage that MLflow runs log beside the splits made from it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from kedro.io import AbstractDataset, DatasetError

from eurosat_kedro.data import download


class ArchiveSourceDataset(AbstractDataset[None, dict]):
    """The archive at ``archive_path``: ``url`` (the source its download recorded beside it,
    else the configured ``url``), ``sha256``, ``size``, ``via`` (url | dvc | unknown) and
    ``dvc_md5`` (the hash in ``<archive>.dvc`` when DVC tracks it, else None). Read-only;
    load it after ``raw_images``, which fetches the archive."""

    def __init__(self, archive_path: str, url: str, metadata: dict[str, Any] | None = None):
        self._archive = Path(archive_path)
        self._url = url
        self.metadata = metadata

    def load(self) -> dict:
        if not self._archive.is_file():
            raise DatasetError(
                f"{self._archive} is missing, so where the data came from cannot be recorded: "
                "run the data_processing pipeline, which fetches it (raw_images)"
            )
        recorded = _read_json(self._archive.with_name(self._archive.name + ".source.json"))
        return {
            "url": recorded.get("source") or self._url,
            "sha256": download.sha256_of(self._archive),
            "size": self._archive.stat().st_size,
            "via": recorded.get("via", "unknown"),
            "dvc_md5": _dvc_md5(self._archive.with_name(self._archive.name + ".dvc")),
        }

    def save(self, data: None) -> None:
        raise DatasetError(f"{self._archive}'s source is read from the archive; it is not saved")

    def _exists(self) -> bool:
        return self._archive.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"archive_path": str(self._archive), "url": self._url}


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _dvc_md5(dvc_file: Path) -> str | None:
    """The md5 DVC records for the one output of ``dvc_file`` (``outs[0].md5``), or None."""
    try:
        outs = yaml.safe_load(dvc_file.read_text()).get("outs") or [{}]
    except (OSError, AttributeError, yaml.YAMLError):
        return None
    return outs[0].get("md5")
