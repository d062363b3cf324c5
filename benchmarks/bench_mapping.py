"""The mapping code path vs raw ONNX Runtime, and peak memory for a small and a large scene.

    .venv/bin/python benchmarks/bench_mapping.py [MODEL.onnx] [--threads 2] [--rounds 5]
                                                 [--large 20000 (0: skip part 2)]
                                                 [--small 2048]

MODEL defaults to data/06_models/model.onnx, else data/sample/06_models/model.onnx
(`kedro run --env sample` makes it).

Part 1: windows/s on the same 1024 windows of a tiled, compressed 2048x2048 GeoTIFF: raw
ONNX Runtime (``OnnxClassifier.logits`` on the windows already in memory) vs the mapping code
path (strip reads, stretch, tiling, the same model, and writing both GeoTIFF maps). Interleaved
rounds, median reported; overhead = 1 - mapping / raw.
Part 2: peak RSS of a fresh process that maps a ``--small`` and a ``--large`` scene (uint8 RGB,
256x256 tiles, deflate), each written window row by window row, never whole in memory.
"""

from __future__ import annotations

import argparse
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import rasterio
from rasterio import Affine
from rasterio.windows import Window

from eurosat_kedro.datasets import GeoTiffDataset
from eurosat_kedro.mapping import (
    CLASS_NODATA,
    GeoGrid,
    WindowGrid,
    classify_windows,
    open_scene,
)
from eurosat_kedro.serving.classifier import OnnxClassifier
from eurosat_kedro.serving.model_card import ModelCard

IDENTITY = {"type": "none", "low": 0.0, "high": 255.0}
BLOCK = 256


def write_scene(path: Path, side: int, seed: int = 0) -> Path:
    """A ``side x side`` uint8 RGB GeoTIFF (UTM 33N, 10 m), textured blocks from a small pool,
    written one 256-pixel row of blocks at a time."""
    rng = np.random.default_rng(seed)
    pool = [
        np.clip(rng.normal(rng.integers(40, 200, 3), 25, (BLOCK, BLOCK, 3)), 0, 255)
        .astype(np.uint8)
        .transpose(2, 0, 1)
        for _ in range(16)
    ]
    profile = dict(
        driver="GTiff",
        width=side,
        height=side,
        count=3,
        dtype="uint8",
        crs="EPSG:32633",
        transform=Affine.translation(400000, 5400000) @ Affine.scale(10, -10),
        tiled=True,
        blockxsize=BLOCK,
        blockysize=BLOCK,
        compress="deflate",
    )
    with rasterio.open(path, "w", **profile) as dst:
        for y in range(0, side, BLOCK):
            height = min(BLOCK, side - y)
            row = np.concatenate(
                [pool[rng.integers(16)] for _ in range(math.ceil(side / BLOCK))], axis=2
            )
            dst.write(row[:, :height, :side], window=Window(0, y, side, height))
    return path


def map_scene(path: Path, classifier: OnnxClassifier, out: Path, batch: int) -> int:
    """What the mapping pipeline does with a scene: classify, then write both maps."""
    scene = open_scene(path)
    ids, confidence = classify_windows(
        scene, lambda t: classifier.logits(t, batch), IDENTITY, 64, batch, 0.5
    )
    transform = WindowGrid(scene.width, scene.height, 64).map_transform(scene.transform)
    GeoTiffDataset(str(out / "map.tif")).save(GeoGrid(ids, transform, scene.crs, CLASS_NODATA))
    GeoTiffDataset(str(out / "conf.tif")).save(GeoGrid(confidence, transform, scene.crs, np.nan))
    return int((ids != CLASS_NODATA).sum())


def windows_of(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        pixels = src.read().transpose(1, 2, 0)
    n = pixels.shape[0] // 64
    return np.ascontiguousarray(
        pixels[: n * 64, : n * 64].reshape(n, 64, n, 64, 3).swapaxes(1, 2).reshape(-1, 64, 64, 3)
    )


def child(model: str, scene: str, threads: int, batch: int) -> None:
    """Map one scene in this fresh process; print windows, seconds and peak RSS (MiB)."""
    classes = list(ModelCard.of(onnx.load(model)).classes)
    classifier = OnnxClassifier(model, classes, threads=threads)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        n = map_scene(Path(scene), classifier, Path(tmp), batch)
        seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{n} {seconds:.2f} {peak:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model", nargs="?")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--small", type=int, default=2048)
    parser.add_argument("--large", type=int, default=20000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    model = args.model or next(
        (
            p
            for p in ("data/06_models/model.onnx", "data/sample/06_models/model.onnx")
            if Path(p).is_file()
        ),
        None,
    )
    if model is None:
        sys.exit("no model: pass a .onnx path, or run `kedro run --env sample` first")
    if args.child:
        child(model, args.child, args.threads, args.batch)
        return
    card = ModelCard.of(onnx.load(model))
    print(
        f"model {model} ({card.model_name}, {card.precision}), "
        f"{args.threads} ONNX Runtime threads, batch {args.batch}"
    )
    classifier = OnnxClassifier(model, list(card.classes), threads=args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        small = write_scene(tmp / "small.tif", args.small)
        tiles = windows_of(small)
        classifier.logits(tiles[: args.batch], args.batch)  # warm-up
        raw, mapped = [], []
        for _ in range(args.rounds):
            start = time.perf_counter()
            classifier.logits(tiles, args.batch)
            raw.append(len(tiles) / (time.perf_counter() - start))
            start = time.perf_counter()
            n = map_scene(small, classifier, tmp, args.batch)
            mapped.append(n / (time.perf_counter() - start))
        raw_rate, map_rate = float(np.median(raw)), float(np.median(mapped))
        print(
            f"{len(tiles)} windows of a {args.small}x{args.small} scene, median of "
            f"{args.rounds} rounds:"
        )
        print(f"  raw ONNX Runtime (windows in memory)  {raw_rate:8.0f} windows/s")
        print(f"  mapping (read, stretch, infer, write) {map_rate:8.0f} windows/s")
        print(f"  ratio {map_rate / raw_rate:.3f}, overhead {100 * (1 - map_rate / raw_rate):.1f}%")

        if args.large <= 0:
            return
        start = time.perf_counter()
        large = write_scene(tmp / "large.tif", args.large, seed=1)
        print(
            f"wrote a {args.large}x{args.large} scene ({large.stat().st_size / 2**20:.0f} MiB "
            f"on disk, {3 * args.large**2 / 2**30:.2f} GiB of pixels) in "
            f"{time.perf_counter() - start:.0f} s"
        )
        for name, path in (("small", small), ("large", large)):
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    model,
                    "--child",
                    str(path),
                    "--threads",
                    str(args.threads),
                    "--batch",
                    str(args.batch),
                ],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.split()
            n, seconds, peak = int(out[-3]), float(out[-2]), float(out[-1])
            side = args.small if name == "small" else args.large
            print(
                f"  {name:5s} {side}x{side}: {n} windows in {seconds:.1f} s "
                f"({n / seconds:.0f} windows/s), peak RSS {peak:.0f} MiB"
            )


if __name__ == "__main__":
    main()
