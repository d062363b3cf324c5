"""Find the EuroSAT class folders, check every image, and decode the good ones into one array."""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from eurosat_kedro.preprocessing import IMAGE_SIZE

logger = logging.getLogger(__name__)


class DatasetLayoutError(ValueError):
    """The image folder does not hold the expected class folders."""


@dataclass(frozen=True)
class ImageCheck:
    """The outcome of decoding one file: the pixels, or the reason it is unusable."""

    pixels: np.ndarray | None
    problem: str


def find_image_root(extracted: Path, classes: list[str]) -> Path:
    """The folder whose sub-folders are the class folders: ``extracted`` or one level below it."""
    expected = ", ".join(classes)
    candidates = [extracted] + sorted(p for p in extracted.iterdir() if p.is_dir())
    for candidate in candidates:
        folders = {p.name for p in candidate.iterdir() if p.is_dir() and not p.name.startswith(".")}
        if not folders & set(classes):
            continue
        missing = [c for c in classes if c not in folders]
        unknown = sorted(folders - set(classes))
        if missing or unknown:
            detail = "; ".join(
                part
                for part in (
                    f"missing class folder(s): {', '.join(missing)}" if missing else "",
                    f"unknown folder(s): {', '.join(unknown)}" if unknown else "",
                )
                if part
            )
            raise DatasetLayoutError(
                f"{candidate}: {detail}. Expected exactly one folder per class: {expected}. "
                "Check that the archive is EuroSAT RGB, or set data.classes to match it."
            )
        return candidate
    raise DatasetLayoutError(
        f"No class folders found in {extracted} or its sub-folders. Expected folders named "
        f"{expected} (the EuroSAT RGB layout EuroSAT_RGB/<Class>/<Class>_<N>.jpg)."
    )


def check_image(path: Path) -> ImageCheck:
    """Decode ``path`` fully; usable only if it is a 64x64 RGB image. The size is checked from
    the header, so an image of any other size (a decompression bomb too) is never decoded."""
    try:
        with Image.open(path) as image:  # reads the header only: nothing is decoded yet
            width, height = image.size
            if image.mode != "RGB":
                return ImageCheck(None, f"{image.format} image in mode {image.mode}, expected RGB")
            if image.size != (IMAGE_SIZE, IMAGE_SIZE):
                return ImageCheck(
                    None, f"size {width}x{height}, expected {IMAGE_SIZE}x{IMAGE_SIZE}"
                )
            pixels = np.asarray(image, dtype=np.uint8)
    except UnidentifiedImageError:
        return ImageCheck(None, "not a readable image (unknown format or corrupt header)")
    except Image.DecompressionBombError as error:
        return ImageCheck(None, f"decompression bomb refused ({error})")
    except (OSError, SyntaxError, ValueError) as error:
        return ImageCheck(None, f"cannot decode: {error}")
    return ImageCheck(pixels, "")


def list_files(image_root: Path, classes: list[str]) -> pd.DataFrame:
    """One row per file in the class folders, sorted by class then path (hidden files skipped)."""
    rows = []
    for label, name in enumerate(classes):
        for dirpath, dirnames, filenames in os.walk(image_root / name):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for filename in filenames:
                if filename.startswith("."):
                    continue
                relative = (Path(dirpath) / filename).relative_to(image_root).as_posix()
                rows.append((relative, name, label))
    frame = pd.DataFrame(rows, columns=["path", "class_name", "label"])
    return frame.sort_values(["label", "path"], kind="stable", ignore_index=True)


def decode_and_check_images(
    image_root: Path, classes: list[str], workers: int | None = None
) -> tuple[pd.DataFrame, np.ndarray]:
    """Check every file under the class folders.

    Returns the index (``path``, ``class_name``, ``label``, ``valid``, ``problem``,
    ``image_row``) and an ``(n_valid, 64, 64, 3)`` uint8 array whose row ``image_row`` holds
    the pixels of each valid file (``image_row`` is -1 for a bad file).
    """
    index = list_files(image_root, classes)
    paths = [image_root / p for p in index["path"]]
    workers = workers or min(8, (os.cpu_count() or 1) + 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        checks = list(pool.map(check_image, paths, chunksize=256))
    valid = np.array([c.pixels is not None for c in checks], dtype=bool)
    images = np.empty((int(valid.sum()), IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    rows = np.full(len(checks), -1, dtype=np.int64)
    rows[valid] = np.arange(int(valid.sum()))
    for row, check in zip(rows, checks, strict=True):
        if row >= 0:
            images[row] = check.pixels
    index["valid"] = valid
    index["problem"] = [c.problem for c in checks]
    index["image_row"] = rows
    bad = index.loc[~index["valid"]]
    if len(bad):
        logger.warning(
            "%d of %d files are unusable and kept out of the splits: %s",
            len(bad),
            len(index),
            "; ".join(f"{p} ({q})" for p, q in zip(bad["path"], bad["problem"], strict=True)),
        )
    return index, images
