"""Images/s of the batch_inference pipeline's Spark code path on local[1] and local[2], against
the single-process `inference` pipeline code path (OnnxClassifier over the same files).

    .venv/bin/python benchmarks/bench_batch_inference.py [--limit 6000] [--model DIR]

Images: data/01_raw/extracted/EuroSAT_RGB (the full 27,000-image archive, once `kedro run`
has extracted it), else ../shared/data/EuroSAT_RGB.zip extracted to a temporary folder. With
--limit N the first N files (sorted) are copied to a temporary folder. Model:
data/06_models/mlflow_model, else data/sample/06_models/mlflow_model (`kedro run --env sample`
makes it). Each Spark figure is the time from listing the files to the Parquet written, with
the JVM already started (its start, a few seconds once per job, is printed apart), for the first
job and for a second one in the same session; the ratios use the second.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from bench_serving import find_model  # noqa: E402

EXTENSIONS = ["jpg", "jpeg", "png", "tif", "tiff"]


def image_folder(tmp: Path, limit: int | None) -> tuple[Path, list[Path]]:
    """The folder to score and its files."""
    folder = ROOT / "data" / "01_raw" / "extracted" / "EuroSAT_RGB"
    if not folder.is_dir():
        with zipfile.ZipFile(ROOT.parent / "shared" / "data" / "EuroSAT_RGB.zip") as archive:
            archive.extractall(tmp / "extracted")
        folder = next((tmp / "extracted").rglob("EuroSAT_RGB"))
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in {".jpg", ".tif", ".png"})
    if limit:
        subset = tmp / "subset"
        for path in files[:limit]:
            target = subset / path.parent.name / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
        folder, files = subset, sorted(subset.rglob("*.jpg"))
    return folder, files


def single_process(model_dir: Path, files: list[Path]) -> float:
    """Images/s of the inference pipeline's node on the files (ONNX Runtime, all cores)."""
    import contextlib
    import io

    from eurosat_kedro.datasets import ServedModelDataset
    from eurosat_kedro.pipelines.inference.nodes import predict_images

    model = ServedModelDataset(model_uri=str(model_dir)).load()
    paths = [str(p) for p in files]
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        table, _ = predict_images(model, paths, 3)
    elapsed = time.perf_counter() - start
    assert len(table) == len(files) and table["error"].isna().all()
    return len(files) / elapsed


def spark_rate(
    cores: int, folder: Path, model_dir: Path, n_files: int, out: Path
) -> tuple[float, float]:
    """Images/s of the batch_inference nodes on local[cores], Parquet written included: the
    first job (Python workers start, import MLflow and load the model) and a second one in
    the same session (workers and model reused, as in a long job)."""
    from eurosat_kedro.pipelines.batch_inference.nodes import (
        predict_image_files,
        read_image_files,
    )
    from eurosat_kedro.spark import get_spark

    start = time.perf_counter()
    spark = get_spark(
        {
            "spark.master": f"local[{cores}]",
            "spark.ui.enabled": False,
            "spark.driver.memory": "2g",
            "spark.executorEnv.EUROSAT_ORT_THREADS": 1,
        }
    )
    spark.sparkContext.setLogLevel("ERROR")
    print(f"  local[{cores}]: JVM start {time.perf_counter() - start:.1f} s")
    rates = []
    for _ in ("cold", "warm"):
        start = time.perf_counter()
        files = read_image_files(str(folder), EXTENSIONS)
        predictions = predict_image_files(files, str(model_dir), None)
        predictions.write.mode("overwrite").parquet(str(out))
        rates.append(n_files / (time.perf_counter() - start))
        written = spark.read.parquet(str(out))
        assert written.count() == n_files and written.where("error is not null").count() == 0
    spark.stop()
    return rates[0], rates[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=None, help="score the first N files only")
    parser.add_argument("--model", type=Path, default=None)
    args = parser.parse_args()
    model_dir = find_model(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder, files = image_folder(tmp, args.limit)
        print(f"{len(files)} images in {folder}, model {model_dir}, {os.cpu_count()} cores")
        rates = {"single": single_process(model_dir, files)}
        print(f"  single process (inference pipeline code): {rates['single']:.0f} images/s")
        for cores in (1, 2):
            cold, warm = spark_rate(cores, folder, model_dir, len(files), tmp / f"out{cores}")
            rates[cores] = warm
            print(f"\n  Spark local[{cores}]: {cold:.0f} images/s first job, {warm:.0f} warm")
    print(f"local[2] / local[1]       = {rates[2] / rates[1]:.2f}  (warm; target >= 1.7)")
    print(f"local[2] / single process = {rates[2] / rates['single']:.2f}  (warm; target >= 0.9)")


if __name__ == "__main__":
    main()
