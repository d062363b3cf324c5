"""Nodes of the data_processing pipeline: small functions, data in and data out."""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from eurosat_kedro.data import download
from eurosat_kedro.data.archive import ArchiveError
from eurosat_kedro.data.index import find_image_root, index_images
from eurosat_kedro.data.split import SPLITS, stratified_split

logger = logging.getLogger(__name__)


def describe_archive_source(archive_url: str, archive_sha256: str | None) -> dict:
    """The source the ``raw_archive`` dataset fetches from: its URL and expected sha256."""
    if not archive_url:
        raise ValueError(f"data.archive_url is empty. {download.HINT}")
    download.local_path_of(archive_url)  # rejects unsupported schemes early
    sha = (archive_sha256 or "").strip().lower() or None
    if sha and (len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha)):
        raise ValueError(
            f"data.archive_sha256 must be 64 hex digits or null, got {archive_sha256!r}")
    return {"url": archive_url, "sha256": sha}


def check_archive(archive_path: Path) -> Path:
    """Pass the archive on for extraction once it is known to be a zip file."""
    if not zipfile.is_zipfile(archive_path):
        raise ArchiveError(
            f"{archive_path} is not a zip archive (truncated or not EuroSAT_RGB.zip?). "
            "Delete it and run again, or point data.archive_url at the EuroSAT RGB zip."
        )
    return archive_path


def validate_classes(classes: list[str]) -> list[str]:
    """The class list, checked to be unique and alphabetical: label ``i`` is ``classes[i]``."""
    if not classes or len(set(classes)) != len(classes) or list(classes) != sorted(classes):
        raise ValueError(f"data.classes must be unique and in alphabetical order, got {classes}")
    return list(classes)


def index_image_folder(extracted: Path, classes: list[str]) -> tuple[pd.DataFrame, dict]:
    """Index every file of the class folders and decode the usable ones into one array."""
    image_root = find_image_root(Path(extracted), classes)
    index, images = index_images(image_root, classes)
    logger.info("Indexed %d files in %s: %d usable", len(index), image_root, len(images))
    return index, {"images": images}


def split_images(index: pd.DataFrame, fractions: dict[str, float], seed: int) -> pd.DataFrame:
    """The index with a ``split`` column: stratified train/val/test, or ``excluded``."""
    splits = index.copy()
    splits["split"] = stratified_split(index, fractions, seed)
    return splits


def build_split_arrays(splits: pd.DataFrame, decoded: dict) -> tuple[dict, dict, dict]:
    """Per split: ``images`` (N x 64 x 64 x 3 uint8), ``labels`` and relative ``paths``."""
    bundles = []
    for split in SPLITS:
        rows = splits[splits["split"] == split]
        bundles.append({
            "images": decoded["images"][rows["image_row"].to_numpy()],
            "labels": rows["label"].to_numpy(dtype=np.int64),
            "paths": rows["path"].to_numpy(dtype=str),
        })
    return tuple(bundles)


def build_data_report(splits: pd.DataFrame, classes: list[str]) -> dict:
    """Class list, per-split class counts and the unusable files with their problems."""
    counts = {
        split: {name: int(((splits["split"] == split) & (splits["class_name"] == name)).sum())
                for name in classes}
        for split in SPLITS
    }
    bad = splits[~splits["valid"]]
    return {
        "classes": list(classes),
        "total_files": len(splits),
        "usable_images": int(splits["valid"].sum()),
        "splits": counts,
        "split_sizes": {split: sum(counts[split].values()) for split in SPLITS},
        "bad_files": [{"path": p, "problem": q} for p, q in zip(bad["path"], bad["problem"],
                                                                strict=True)],
    }
