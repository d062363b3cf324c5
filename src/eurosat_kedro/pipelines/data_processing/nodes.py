"""Nodes of the data_processing pipeline: small functions, data in and data out."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from eurosat_kedro.data import index
from eurosat_kedro.data.split import SPLITS, stratified_split

logger = logging.getLogger(__name__)


def validate_classes(classes: list[str]) -> list[str]:
    """The class list, checked to be unique and alphabetical: label ``i`` is ``classes[i]``."""
    if not classes or len(set(classes)) != len(classes) or list(classes) != sorted(classes):
        raise ValueError(f"data.classes must be unique and in alphabetical order, got {classes}")
    return list(classes)


def index_images(raw_images: Path, classes: list[str]) -> tuple[pd.DataFrame, dict]:
    """Index every file of the class folders and decode the usable ones into one array."""
    image_root = index.find_image_root(Path(raw_images), classes)
    table, images = index.decode_and_check_images(image_root, classes)
    logger.info("Indexed %d files in %s: %d usable", len(table), image_root, len(images))
    return table, {"images": images}


def split_images(image_index: pd.DataFrame, fractions: dict[str, float], seed: int) -> pd.DataFrame:
    """The index with a ``split`` column: stratified train/val/test, or ``excluded``."""
    splits = image_index.copy()
    splits["split"] = stratified_split(image_index, fractions, seed)
    return splits


def cache_split_arrays(splits: pd.DataFrame, decoded: dict) -> tuple[dict, dict, dict]:
    """Per split: ``images`` (N x 64 x 64 x 3 uint8), ``labels`` and relative ``paths``."""
    bundles = []
    for split in SPLITS:
        rows = splits[splits["split"] == split]
        bundles.append(
            {
                "images": decoded["images"][rows["image_row"].to_numpy()],
                "labels": rows["label"].to_numpy(dtype=np.int64),
                "paths": rows["path"].to_numpy(dtype=str),
            }
        )
    return tuple(bundles)


def report_data(
    splits: pd.DataFrame, classes: list[str], archive_source: dict | None = None
) -> dict:
    """Class list, per-split class counts, the unusable files with their problems, and the
    archive the images came from (``source``: URL, sha256, DVC hash), which training and
    evaluation log to MLflow as the lineage of the splits."""
    counts = {
        split: {
            name: int(((splits["split"] == split) & (splits["class_name"] == name)).sum())
            for name in classes
        }
        for split in SPLITS
    }
    bad = splits[~splits["valid"]]
    return {
        "source": archive_source,
        "classes": list(classes),
        "total_files": len(splits),
        "usable_images": int(splits["valid"].sum()),
        "splits": counts,
        "split_sizes": {split: sum(counts[split].values()) for split in SPLITS},
        "bad_files": [
            {"path": p, "problem": q} for p, q in zip(bad["path"], bad["problem"], strict=True)
        ],
    }
