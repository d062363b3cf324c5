"""A whole Sentinel-2 product through the mapping pipeline's code path: windows/s against raw
ONNX Runtime on the same windows, and peak memory for a full-size and a small product.

    .venv/bin/python benchmarks/bench_mapping_product.py [MODEL.onnx] [--size 10980]
        [--small 1098 2196] [--folder DIR] [--eurosat ../shared/data/EuroSAT_RGB.zip]
        [--batch 256] [--rounds 3] [--profile]

Products: Level-2A .SAFE folders in the real layout, ``--size`` (10980: a full tile, 171 x 171
= 29,241 windows at stride 64) and ``--small`` pixels a side (1098 holds fewer windows than one
batch; 2196 a few batches, as the full tile), written once into ``--folder``
(default <tmp>/eurosat_bench_products) and reused: ``MTD_MSIL2A.xml`` (baseline 05.10,
BOA_ADD_OFFSET -1000), ``GRANULE/*/IMG_DATA/R10m/*_B0{4,3,2}_10m.jp2`` (uint16, lossless
JPEG 2000 in 1024x1024 tiles with 5 resolution levels, as ESA's) and ``R20m/*_SCL_20m.jp2``
(half the size, 640x640 tiles) with cloud and shadow patches. Each 64x64 window of the bands is
a EuroSAT image (from ``--eurosat``) turned back into DN by the inverse of EuroSAT's recipe
plus the offset (``mapping.radiometry.eurosat_bytes_to_dn``).

Model: MODEL, else a simple_cnn with random weights exported by the project's export code
(``models.export.export_onnx``), cached in the folder: only throughput matters.

Mapping: what ``kedro run --pipelines mapping`` does, from opening the product to both maps in
memory (the mapping nodes ``choose_stretch`` and ``classify_scene`` on ``open_scene``, with
conf/base/parameters_mapping.yml; the two small map rasters are not written). Timers wrapped
around ``SceneReader.read`` / ``masked`` (the band reads with their JPEG 2000 decoding, and the
SCL resampled to 10 m) and ``OnnxClassifier.logits`` split its time: reads, ONNX Runtime, the
rest (stretch, tiling, masks, batching).

Peak memory: each product is mapped in a fresh process, whose ``ru_maxrss`` is printed.

Speed: the windows the full product's map classified are read into memory, then each round
times raw ONNX Runtime on them (``OnnxClassifier.logits``, the session options and batch the
mapping uses, after a warm-up batch; only the inference) and then the mapping of the product,
in this process. ratio = mapping windows/s / raw windows/s of the medians, decoding included
(target >= 0.8); ONNX Runtime's share of the mapping time says how much is left to gain
outside inference.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import rasterio
import yaml
from PIL import Image
from rasterio import Affine
from rasterio.windows import Window
from scipy import ndimage

from eurosat_kedro.files import atomic_path
from eurosat_kedro.mapping import CLASS_MASKED, CLASS_NODATA, WindowGrid, open_scene, to_uint8
from eurosat_kedro.mapping.radiometry import BASELINE_OFFSET, eurosat_bytes_to_dn
from eurosat_kedro.mapping.scene import SceneReader
from eurosat_kedro.serving.classifier import OnnxClassifier

ROOT = Path(__file__).resolve().parents[1]
EUROSAT = ROOT.parent / "shared" / "data" / "EuroSAT_RGB.zip"
TILE, DATE = "T33UUU", "20240601T101031"
SAFE_NAME = f"S2B_MSIL2A_{DATE}_N0510_R022_{TILE}_20240601T120431.SAFE"
GRANULE = f"L2A_{TILE}_A037764_20240601T101559"
ORIGIN = Affine.translation(300000, 5900040) @ Affine.scale(10, -10)  # UTM 33N, 10 m
# as ESA writes the bands: lossless, 1024x1024 tiles at 10 m (640x640 at 20 m), 5 levels
JP2_OPTIONS = dict(QUALITY=100, REVERSIBLE="YES", RESOLUTIONS=5)
MTD = """<?xml version="1.0" encoding="UTF-8"?>
<n1:Level-2A_User_Product xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-2A.xsd">
<n1:General_Info><Product_Info><PROCESSING_LEVEL>Level-2A</PROCESSING_LEVEL>
<PROCESSING_BASELINE>05.10</PROCESSING_BASELINE></Product_Info>
<Product_Image_Characteristics><QUANTIFICATION_VALUES_LIST>
<BOA_QUANTIFICATION_VALUE unit="none">10000</BOA_QUANTIFICATION_VALUE>
</QUANTIFICATION_VALUES_LIST><BOA_ADD_OFFSET_VALUES_LIST>{offsets}</BOA_ADD_OFFSET_VALUES_LIST>
</Product_Image_Characteristics></n1:General_Info></n1:Level-2A_User_Product>
"""


def eurosat_pool(archive: Path | None, count: int = 512, seed: int = 0) -> np.ndarray:
    """``count`` EuroSAT images (uint8 ``(count, 64, 64, 3)``) drawn from the archive; without
    one, textured squares of random colours."""
    rng = np.random.default_rng(seed)
    if archive is None or not archive.is_file():
        print(f"  no EuroSAT archive at {archive}: windows are random textures")
        return np.clip(
            rng.normal(rng.integers(40, 200, (count, 1, 1, 3)), 25, (count, 64, 64, 3)), 1, 255
        ).astype(np.uint8)
    with zipfile.ZipFile(archive) as zf:
        names = sorted(n for n in zf.namelist() if n.lower().endswith(".jpg"))
        picks = rng.choice(len(names), min(count, len(names)), replace=False)
        return np.stack(
            [np.asarray(Image.open(io.BytesIO(zf.read(names[i]))).convert("RGB")) for i in picks]
        )


def scl_values(side: int, seed: int = 0) -> np.ndarray:
    """A scene classification: vegetation (4), some water (6), cloud patches (9 high, 8 medium
    probability) over about a fifth of the tile, their shadows (3) beside them."""
    rng = np.random.default_rng(seed)
    zoom = side / 12
    clouds = ndimage.zoom(rng.random((12, 12)).astype(np.float32), zoom, order=3)[:side, :side]
    water = ndimage.zoom(rng.random((8, 8)).astype(np.float32), side / 8, order=3)[:side, :side]
    scl = np.full((side, side), 4, np.uint8)
    scl[water > np.quantile(water, 0.93)] = 6
    high, medium = np.quantile(clouds, [0.85, 0.8])
    shift = max(1, side // 150)
    shadow = np.zeros_like(scl, bool)
    shadow[shift:, shift:] = clouds[:-shift, :-shift] > high
    scl[shadow] = 3
    scl[clouds > medium] = 8
    scl[clouds > high] = 9
    return scl


def write_jp2(path: Path, values: np.ndarray, transform: Affine, block: int) -> float:
    """One band as ESA writes it; returns the seconds the encoding took."""
    start = time.perf_counter()
    with rasterio.open(
        path,
        "w",
        driver="JP2OpenJPEG",
        width=values.shape[1],
        height=values.shape[0],
        count=1,
        dtype=values.dtype.name,
        crs="EPSG:32633",
        transform=transform,
        BLOCKXSIZE=block,
        BLOCKYSIZE=block,
        **JP2_OPTIONS,
    ) as dst:
        dst.write(values[None])
    return time.perf_counter() - start


def write_product(folder: Path, side: int, pool: np.ndarray) -> Path:
    """The .SAFE of a ``side`` x ``side`` tile in ``folder`` (atomically: a product there is
    complete); prints how long each band took to encode."""
    dn = eurosat_bytes_to_dn(pool, offset=int(BASELINE_OFFSET))  # (n, 64, 64, 3) uint16
    n = -(-side // 64)
    picks = np.random.default_rng(side).integers(len(pool), size=(n, n))
    with atomic_path(folder) as tmp:
        safe = tmp / SAFE_NAME
        bands = safe / "GRANULE" / GRANULE / "IMG_DATA" / "R10m"
        bands.mkdir(parents=True)
        (bands.parent / "R20m").mkdir()
        offsets = "".join(
            f'<BOA_ADD_OFFSET band_id="{b}">-1000</BOA_ADD_OFFSET>' for b in range(13)
        )
        (safe / "MTD_MSIL2A.xml").write_text(MTD.format(offsets=offsets))
        for index, band in enumerate(("B04", "B03", "B02")):
            values = dn[picks, :, :, index].transpose(0, 2, 1, 3).reshape(n * 64, n * 64)
            values = np.ascontiguousarray(values[:side, :side])
            path = bands / f"{TILE}_{DATE}_{band}_10m.jp2"
            seconds = write_jp2(path, values, ORIGIN, 1024)
            print(f"  {band} {side}x{side}: encoded in {seconds:.1f} s, {_mib(path):.0f} MiB")
            del values
        scl = bands.parent / "R20m" / f"{TILE}_{DATE}_SCL_20m.jp2"
        seconds = write_jp2(scl, scl_values(side // 2), ORIGIN @ Affine.scale(2), 640)
        print(f"  SCL {side // 2}x{side // 2}: encoded in {seconds:.1f} s, {_mib(scl):.1f} MiB")
    return folder / SAFE_NAME


def product(folder: Path, side: int, eurosat: Path | None) -> Path:
    target = folder / f"L2A_{side}"
    if (target / SAFE_NAME).is_dir():
        print(f"product {side}x{side}: {target / SAFE_NAME} (written before)")
        return target / SAFE_NAME
    print(f"product {side}x{side}: writing {target / SAFE_NAME}")
    return write_product(target, side, eurosat_pool(eurosat))


def random_model(folder: Path) -> Path:
    """A simple_cnn with random weights, exported as the deployment pipeline does."""
    path = folder / "simple_cnn_random.onnx"
    if path.is_file():
        return path
    from eurosat_kedro.models import ModelSpec, TrainedModel, build_model
    from eurosat_kedro.models.export import export_onnx

    params = ROOT / "conf" / "base"
    classes = yaml.safe_load((params / "parameters_data_processing.yml").read_text())["data"][
        "classes"
    ]
    opset = yaml.safe_load((params / "parameters_deployment.yml").read_text())["deployment"][
        "onnx_opset"
    ]
    spec = ModelSpec("simple_cnn", num_classes=len(classes))
    bundle = TrainedModel(build_model(spec).eval().state_dict(), spec, tuple(classes))
    with atomic_path(path, ".onnx") as tmp:
        tmp.write_bytes(export_onnx(bundle, opset).SerializeToString())
    return path


def mapping_parameters(batch: int | None) -> dict:
    params = yaml.safe_load((ROOT / "conf" / "base" / "parameters_mapping.yml").read_text())
    mapping = params["mapping"]
    if batch:
        mapping["batch_size"] = batch
    return mapping


TIMES = {"read": 0.0, "infer": 0.0}  # seconds in the reads and in ONNX Runtime, added up


def timed(cls, name: str, key: str) -> None:
    """Wrap ``cls.name`` so that its seconds add up in ``TIMES[key]`` (this process only)."""
    method = getattr(cls, name)

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            TIMES[key] += time.perf_counter() - start

    setattr(cls, name, wrapper)


timed(SceneReader, "read", "read")
timed(SceneReader, "masked", "read")
timed(OnnxClassifier, "logits", "infer")


def map_product(safe: Path | str, served, params: dict, profile: bool = False) -> dict:
    """What ``kedro run --pipelines mapping`` does with the product, from opening it to both
    maps in memory: windows classified and masked, seconds, and the seconds of the reads and
    of ONNX Runtime among them."""
    from eurosat_kedro.pipelines.mapping.nodes import choose_stretch, classify_scene

    TIMES.update(read=0.0, infer=0.0)
    profiler = cProfile.Profile() if profile else None
    start = time.perf_counter()
    if profiler:
        profiler.enable()
    scene = open_scene(safe)
    limits = choose_stretch(scene, params["stretch"], params["offset"], params["preview_size"])
    class_map, _ = classify_scene(scene, served, limits, params)
    seconds = time.perf_counter() - start
    if profiler:
        profiler.disable()
        stats = io.StringIO()
        pstats.Stats(profiler, stream=stats).sort_stats("tottime").print_stats(15)
        print(stats.getvalue())
    ids = class_map.values
    grid = WindowGrid(scene.width, scene.height, int(params["stride"]))
    return {
        "ids": ids,
        "windows": int(np.isin(ids, (CLASS_NODATA, CLASS_MASKED), invert=True).sum()),
        "masked": int((ids == CLASS_MASKED).sum()),
        "inside": grid.inside(scene.width) * grid.inside(scene.height),
        "seconds": seconds,
        **TIMES,
    }


def child(safe: str, model: str, batch: int | None, ids_out: str, profile: bool) -> None:
    """Map the product in this fresh process; print one JSON line with its peak RSS."""
    from eurosat_kedro.datasets import ServedModelDataset

    served = ServedModelDataset(model, parameter="mapping.model_uri").load()
    result = map_product(safe, served, mapping_parameters(batch), profile)
    np.save(ids_out, result.pop("ids"))
    result["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def map_in_child(safe: Path, model: Path, args, ids_out: Path, profile: bool = False) -> dict:
    command = [sys.executable, __file__, str(model), "--child", str(safe), "--ids", str(ids_out)]
    if args.batch:
        command += ["--batch", str(args.batch)]
    if profile:
        command.append("--profile")
    lines = subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()
    if profile:
        print("\n".join(lines[:-1]))
    return json.loads(lines[-1])


def classified_windows(safe: Path, ids: np.ndarray) -> np.ndarray:
    """The pixels of the windows the map classified, as the mapping read them (uint8
    ``(n, 64, 64, 3)``)."""
    from eurosat_kedro.pipelines.mapping.nodes import choose_stretch

    params = mapping_parameters(None)
    scene = open_scene(safe)
    limits = choose_stretch(scene, params["stretch"], params["offset"], params["preview_size"])
    stride = int(params["stride"])
    size = WindowGrid(scene.width, scene.height, stride).size
    classified = np.isin(ids, (CLASS_NODATA, CLASS_MASKED), invert=True)
    out = np.empty((int(classified.sum()), size, size, 3), np.uint8)
    n = 0
    with scene.reader() as reader:
        for r in np.flatnonzero(classified.any(axis=1)):
            cols = np.flatnonzero(classified[r])
            width = int(cols[-1]) * stride + size
            values, valid = reader.read(Window(0, int(r) * stride, width, size))
            rgb = to_uint8(values, limits, valid)
            for c in cols:
                out[n] = rgb[:, c * stride : c * stride + size]
                n += 1
    return out


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def _mib(path: Path) -> float:
    return path.stat().st_size / 2**20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model", nargs="?", help="an .onnx file (default: random simple_cnn)")
    parser.add_argument("--size", type=int, default=10980, help="side of the full product")
    parser.add_argument(
        "--small", type=int, nargs="+", default=[1098, 2196], help="sides of small products"
    )
    parser.add_argument("--folder", type=Path, help="where the products are kept")
    parser.add_argument("--eurosat", type=Path, default=EUROSAT, help="EuroSAT RGB zip")
    parser.add_argument("--batch", type=int, help="mapping.batch_size (default: the pipeline's)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved speed rounds")
    parser.add_argument("--profile", action="store_true", help="cProfile the full mapping")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--ids", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.model, args.batch, args.ids, args.profile)
        return
    folder = args.folder or Path(tempfile.gettempdir()) / "eurosat_bench_products"
    folder.mkdir(parents=True, exist_ok=True)
    print(
        f"CPU {cpu_name()}, {os.cpu_count()} cores shared with other jobs; load average "
        f"{os.getloadavg()[0]:.1f} at the start"
    )
    model = Path(args.model) if args.model else random_model(folder)
    params = mapping_parameters(args.batch)
    print(
        f"model {model}{'' if args.model else ' (simple_cnn, random weights)'}; ONNX Runtime "
        f"threads as the mapping pipeline sets them (its default), batch {params['batch_size']}, "
        f"stride {params['stride']}"
    )
    sides = [*args.small, args.size]
    safes = {side: product(folder, side, args.eurosat) for side in sides}

    print("peak memory: each product mapped in a fresh process")
    peaks = {}
    for side in sides:
        ids_out = folder / f"ids_{side}.npy"
        res = map_in_child(safes[side], model, args, ids_out, args.profile and side == args.size)
        peaks[side] = res["peak_mib"]
        print(
            f"  {side}x{side}: {res['windows']:,} of {res['inside']:,} windows classified "
            f"({res['masked']:,} masked) in {res['seconds']:.1f} s = "
            f"{res['windows'] / res['seconds']:.0f} windows/s ({_shares(res)}), "
            f"peak RSS {res['peak_mib']:.0f} MiB"
        )
    for side in args.small:
        print(
            f"  peak RSS {args.size} / {side}: {peaks[args.size]:.0f} / {peaks[side]:.0f} MiB "
            f"= {peaks[args.size] / peaks[side]:.2f} for {(args.size / side) ** 2:.0f}x the area"
        )

    from eurosat_kedro.datasets import ServedModelDataset

    start = time.perf_counter()
    windows = classified_windows(safes[args.size], np.load(folder / f"ids_{args.size}.npy"))
    print(
        f"speed: {len(windows):,} windows of the {args.size}x{args.size} product, read into "
        f"memory in {time.perf_counter() - start:.1f} s; {args.rounds} rounds, each raw ONNX "
        "Runtime on them then the mapping of the product, in this process"
    )
    served = ServedModelDataset(str(model)).load()
    classifier = OnnxClassifier(served.onnx_model, list(served.classes))
    batch = int(params["batch_size"])
    classifier.logits(windows[:batch], batch)  # warm-up
    raw, mapped = [], []
    for round_ in range(args.rounds):
        start = time.perf_counter()
        classifier.logits(windows, batch)
        raw.append(len(windows) / (time.perf_counter() - start))
        res = map_product(safes[args.size], served, params)
        mapped.append(res)
        print(
            f"  round {round_ + 1}: raw {raw[-1]:.0f} windows/s, mapping "
            f"{res['windows'] / res['seconds']:.0f} windows/s ({_shares(res)}), ratio "
            f"{res['windows'] / res['seconds'] / raw[-1]:.2f}, load average "
            f"{os.getloadavg()[0]:.1f}"
        )
    raw_rate = float(np.median(raw))
    map_rate = float(np.median([r["windows"] / r["seconds"] for r in mapped]))
    infer_share = float(np.median([r["infer"] / r["seconds"] for r in mapped]))
    no_reads = float(np.median([r["windows"] / (r["seconds"] - r["read"]) for r in mapped]))
    in_mapping = float(np.median([r["windows"] / r["infer"] for r in mapped]))
    print(
        f"  median: raw ONNX Runtime {raw_rate:.0f} windows/s, mapping {map_rate:.0f} windows/s: "
        f"ratio {map_rate / raw_rate:.2f} with the decoding (target >= 0.8)"
    )
    print(
        f"  ONNX Runtime's share of the mapping time {100 * infer_share:.0f}%; ONNX Runtime "
        f"inside the mapping {in_mapping:.0f} windows/s ({in_mapping / raw_rate:.2f} of raw); "
        f"the mapping without its reads {no_reads:.0f} windows/s ({no_reads / raw_rate:.2f})"
    )
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


def _shares(res: dict) -> str:
    rest = res["seconds"] - res["read"] - res["infer"]
    return ", ".join(
        f"{name} {100 * seconds / res['seconds']:.0f}%"
        for name, seconds in (
            ("reads", res["read"]),
            ("ONNX Runtime", res["infer"]),
            ("rest", rest),
        )
    )


if __name__ == "__main__":
    main()
