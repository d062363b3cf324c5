"""Time indexing (decode + check every image) and caching (split arrays) on the real archive.

    .venv/bin/python benchmarks/bench_data_processing.py ../shared/data/EuroSAT_RGB.zip

Extraction is timed separately (it runs once; reruns skip it). Prints seconds and images/s.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import yaml

from eurosat_kedro.data.archive import extract
from eurosat_kedro.datasets import ArrayBundleDataset
from eurosat_kedro.pipelines.data_processing.nodes import (
    build_split_arrays,
    index_image_folder,
    split_images,
)

# the class list of the project's configuration (run from the project root)
CLASSES = yaml.safe_load(Path("conf/base/parameters_data_processing.yml").read_text())["data"][
    "classes"
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("archive", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        extracted = extract(args.archive, tmp / "extracted")
        t_extract = time.perf_counter() - start

        start = time.perf_counter()
        index, decoded = index_image_folder(extracted, CLASSES)
        t_index = time.perf_counter() - start

        start = time.perf_counter()
        splits = split_images(index, {"train": 0.7, "val": 0.15, "test": 0.15}, 42)
        bundles = build_split_arrays(splits, decoded)
        for name, bundle in zip(("train", "val", "test"), bundles, strict=True):
            ArrayBundleDataset(str(tmp / f"{name}.npz")).save(bundle)
        t_cache = time.perf_counter() - start

    n = len(index)
    print(f"machine: {os.cpu_count()} CPU cores")
    print(f"images: {n} ({int(index['valid'].sum())} usable)")
    print(f"extract (once):      {t_extract:6.1f} s")
    print(f"index (decode+check): {t_index:6.1f} s  {n / t_index:8.0f} images/s")
    print(f"split + cache (.npz): {t_cache:6.1f} s")
    print(f"index + cache:        {t_index + t_cache:6.1f} s  (target < 60 s)")


if __name__ == "__main__":
    main()
