"""Products mapped per minute by the mapping_many pipeline's map_products node: on Spark
local[1] and local[2], against one process (``mapping.engine: local``), on the same products.

    .venv/bin/python benchmarks/bench_mapping_spark.py [--products 8] [--side 1536]
        [--model DIR] [--masters local[1] local[2]] [--keep DIR]

Products: ``--products`` L1C .SAFE folders (lossless JPEG 2000 bands and their MTD XML, built
by ``tests/mapping/conftest.write_safe``) of ``--side`` x ``--side`` px, from the real L1C crop
``../shared/data/sentinel2/L1C_T33UUU_20170216_crop`` (B04, B03, B02, 1536 x 768 px, baseline
02.04), mirrored downwards to the side asked and shifted by 64 px per product. Model:
data/06_models/mlflow_model, else data/sample/06_models/mlflow_model (``kedro run --env
sample`` makes it). Parameters: conf/base/parameters_mapping.yml and conf/base/spark.yml
(``EUROSAT_ORT_THREADS`` 1 per Spark task), ``mapping.overwrite: true`` so every job maps every
product. One process uses ``serving_threads()`` ONNX Runtime threads (every core).

Each configuration runs in a fresh process. A figure is the wall time of map_products, preview
PNG and every file written included; on Spark, the session already started (its start printed
apart), for a first job (Python workers start, import, open the model) and a second one in the
same session (workers reused, as in a long job). The ratios use the second.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
import yaml
from rasterio import Affine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from bench_serving import find_model  # noqa: E402

CROP = ROOT.parent / "shared" / "data" / "sentinel2" / "L1C_T33UUU_20170216_crop" / "IMG_DATA"
CROP_ORIGIN = "T33UUU_20170216T102101"


def write_products(folder: Path, count: int, side: int) -> list[Path]:
    """``count`` L1C products of ``side`` x ``side`` px built from the real crop."""
    sys.path.insert(0, str(ROOT))
    from tests.mapping.conftest import write_safe

    bands = []
    for band in ("B04", "B03", "B02"):
        with rasterio.open(CROP / f"{CROP_ORIGIN}_{band}.jp2") as src:
            bands.append(src.read(1))
            transform = src.transform
    crop = np.stack(bands)
    while crop.shape[1] < side or crop.shape[2] < side:  # mirror: no seam in the texture
        crop = np.concatenate([crop, crop[:, ::-1]], axis=1)
        crop = np.concatenate([crop, crop[:, :, ::-1]], axis=2)
    products = []
    for i in range(count):
        dn = np.roll(crop, -64 * i, axis=2)[:, :side, :side]
        origin = transform @ Affine.translation(64 * i, 0)
        date = f"201702{16 + i:02d}T102101"
        products.append(write_safe(folder, dn, baseline="02.04", offset=0, transform=origin,
                                   date=date))  # fmt: skip
    return products


def child(master: str, products: str, model_dir: str, out: str, runs: int) -> None:
    """Map the products ``runs`` times on ``master`` (``one-process``: engine local); print
    one JSON line of figures."""
    from eurosat_kedro import spark
    from eurosat_kedro.datasets import ServedModelDataset
    from eurosat_kedro.mapping.products import MapFolders, list_products
    from eurosat_kedro.pipelines.mapping_many.nodes import map_products

    params = yaml.safe_load((ROOT / "conf/base/parameters_mapping.yml").read_text())["mapping"]
    mapping = {**params, "overwrite": True, "engine": "local"}
    figures: dict = {"master": master}
    if master != "one-process":
        spark.configure(yaml.safe_load((ROOT / "conf/base/spark.yml").read_text()))
        start = time.perf_counter()
        session = spark.get_spark({"spark.master": master, "spark.ui.enabled": False})
        session.sparkContext.setLogLevel("ERROR")
        figures["jvm_start_s"] = round(time.perf_counter() - start, 1)
        mapping["engine"] = "spark"
    model = ServedModelDataset(model_dir).load()
    listed = list_products(products)
    seconds, cpu, peak = [], [], 0.0
    for _ in range(runs):
        start = time.perf_counter()
        rows = map_products(listed, model, MapFolders(out), mapping)
        seconds.append(time.perf_counter() - start)
        assert all(row["status"] == "ok" for row in rows), [r["error"] for r in rows]
        cpu.append(sum(row["cpu_seconds"] for row in rows))
        peak = max(peak, *(row["peak_rss_mib"] for row in rows))
    figures |= {"seconds": seconds, "cpu_seconds": cpu, "products": len(listed)}
    figures["peak_rss_mib"] = peak
    figures["windows"] = rows[0]["windows"]
    print(json.dumps(figures))


def _cpu(figures: dict, run: int) -> str:
    """CPU seconds a product, and the cores the mapping processes had on average (CPU / wall:
    below the cores asked for when other processes share them)."""
    cpu, wall = figures["cpu_seconds"][run], figures["seconds"][run]
    return f"{cpu / figures['products']:.1f} CPU s a product, {cpu / wall:.2f} cores busy"


def _run_child(master: str, products: str, model_dir: Path, out: Path, runs: int) -> dict:
    command = [sys.executable, __file__, "--child", master, "--glob", products,
               "--model", str(model_dir), "--out", str(out), "--runs", str(runs)]  # fmt: skip
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--products", type=int, default=8)
    parser.add_argument("--side", type=int, default=1536)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--masters", nargs="+", default=["local[1]", "local[2]"])
    parser.add_argument("--keep", type=Path, default=None, help="build the products here, once")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--glob", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=int, default=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.glob, str(args.model), args.out, args.runs)
        return
    model_dir = find_model(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp) / "products"
        if not list(folder.glob("*.SAFE")):
            start = time.perf_counter()
            write_products(folder, args.products, args.side)
            print(f"built {args.products} products in {time.perf_counter() - start:.0f} s")
        products = f"{folder}/*.SAFE"
        print(f"{args.products} L1C products of {args.side}x{args.side} px from the real crop, "
              f"model {model_dir}, {os.cpu_count()} cores")  # fmt: skip
        rates = {}
        one = _run_child("one-process", products, model_dir, Path(tmp) / "one", 1)
        rates["one"] = 60 * one["products"] / one["seconds"][0]
        print(f"  one process (engine local):  {rates['one']:5.1f} products/min "
              f"({one['seconds'][0]:.1f} s, {one['windows']} windows a product, "
              f"{_cpu(one, 0)}, peak RSS {one['peak_rss_mib']:.0f} MiB)")  # fmt: skip
        for master in args.masters:
            got = _run_child(master, products, model_dir, Path(tmp) / "spark", 2)
            first, second = (60 * got["products"] / s for s in got["seconds"])
            rates[master] = second
            print(f"  Spark {master}: {first:5.1f} products/min first job, {second:5.1f} "
                  f"second ({got['seconds'][1]:.1f} s, {_cpu(got, 1)}; JVM start "
                  f"{got['jvm_start_s']} s, peak RSS of a task's process "
                  f"{got['peak_rss_mib']:.0f} MiB)")  # fmt: skip
    if "local[1]" in rates and "local[2]" in rates:
        print(f"local[2] / local[1]    = {rates['local[2]'] / rates['local[1]']:.2f}  "
              "(second jobs; target >= 1.7)")  # fmt: skip
    if "local[2]" in rates:
        print(f"local[2] / one process = {rates['local[2]'] / rates['one']:.2f}  "
              "(second job; target >= 0.9)")  # fmt: skip


if __name__ == "__main__":
    main()
