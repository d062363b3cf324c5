"""Nodes of the batch_inference pipeline: list and read image files with Spark, score them with
the MLflow pyfunc model through ``mlflow.pyfunc.spark_udf``, and count the classes."""

from __future__ import annotations

import logging
from glob import has_magic
from pathlib import Path, PurePosixPath

import mlflow
from kedro.io.core import get_protocol_and_path
from kedro_datasets._utils.spark_utils import get_spark_filesystem
from mlflow.exceptions import MlflowException
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from eurosat_kedro.spark import get_spark

logger = logging.getLogger(__name__)

# What the pyfunc returns per row with params={"on_error": "row"}, as Spark reads it
RESULT_TYPE = (
    "predicted_class string, probability double, "
    "topk array<struct<class: string, probability: double>>, error string"
)
MAX_ERRORS_IN_REPORT = 100


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
    protocol, path = get_protocol_and_path(input_path)
    fs = get_spark_filesystem(protocol)
    suffixes = tuple("." + e.lstrip(".").lower() for e in extensions)
    found = []
    path = fs._strip_protocol(path)  # absolute, as find() names what it finds
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
            found.append(f"file:{name}" if protocol in ("", "file") else f"{protocol}://{name}")
    return sorted(found)


def read_image_files(input_path: str | None, extensions: list[str]) -> DataFrame:
    """``path`` and ``content`` of every image file below the folder (or matching the glob),
    read by Spark's ``binaryFile`` source; hidden files (``.`` or ``_``) are skipped. Empty
    files, which Spark skips, are added with empty content, so each gets its error row."""
    if not input_path:
        raise ValueError(
            "Set the folder or glob to score: kedro run --pipeline batch_inference "
            '--params "batch_inference.input=PATH"'
        )
    reader = (
        get_spark()
        .read.format("binaryFile")
        .option("recursiveFileLookup", "true")
        .option("pathGlobFilter", extension_filter(extensions))
    )
    try:
        files = reader.load(input_path).select("path", "content")
        empty = not files.select("path").head(1)
    except AnalysisException as error:
        if "PATH_NOT_FOUND" in str(error) or "does not exist" in str(error):
            raise FileNotFoundError(
                f"batch_inference.input {input_path!r}: no such folder, file or glob match"
            ) from error
        raise
    try:
        empty_ones = empty_files(input_path, extensions)
    except ImportError as error:  # e.g. s3a:// without s3fs: Spark reads it, fsspec cannot
        logger.warning("Empty files cannot be listed, so they get no row: %s", error)
        empty_ones = []
    if empty_ones:
        logger.warning("%d empty files (0 bytes), e.g. %s", len(empty_ones), empty_ones[0])
        spark = files.sparkSession
        files = files.unionByName(
            spark.createDataFrame([(p, bytearray()) for p in empty_ones], files.schema)
        )
    elif empty:
        raise ValueError(
            f"batch_inference.input {input_path!r} holds no file ending in "
            f"{', '.join('.' + e for e in extensions)}"
        )
    return files


def _local_or_uri(model_uri: str) -> str:
    """An existing local folder as an absolute path (Spark workers may run elsewhere)."""
    path = Path(model_uri).expanduser()
    return str(path.resolve()) if "://" not in model_uri and path.exists() else model_uri


def check_model(model_uri: str | None) -> str:
    """The model URI, once MLflow finds a model there that can answer bad rows per row."""
    if not model_uri:
        raise ValueError('Set the model: --params "batch_inference.model_uri=URI"')
    uri = _local_or_uri(model_uri)
    try:
        info = mlflow.models.get_model_info(uri)
    except (MlflowException, OSError) as error:
        raise FileNotFoundError(
            f"batch_inference.model_uri {model_uri!r} is not an MLflow model: {error}. Run the "
            "deployment pipeline, or pass a folder, runs:/ or models:/ URI."
        ) from error
    params = info.signature.params if info.signature else None
    if params is None or "on_error" not in [param.name for param in params.params]:
        raise ValueError(
            f"batch_inference.model_uri {model_uri!r} predates per-row errors (no `on_error` "
            "param in its signature): package it again with the deployment pipeline."
        )
    return uri


def predict_image_files(files: DataFrame, model_uri: str, partitions: int | None) -> DataFrame:
    """Exactly one row per file: ``path``, ``predicted_class``, ``probability`` (top class),
    ``topk`` (class, probability) and ``error`` (null, or why the file has no prediction)."""
    uri = check_model(model_uri)
    spark = files.sparkSession
    partitions = partitions or 4 * spark.sparkContext.defaultParallelism
    udf = mlflow.pyfunc.spark_udf(
        spark, uri, result_type=RESULT_TYPE, env_manager="local", params={"on_error": "row"}
    )
    # Spark packs ~32 small files per scan task: merge those tasks without a shuffle, or
    # spread a few files over more tasks, so every core scores about as many images
    spread = (
        files.coalesce(partitions)
        if files.rdd.getNumPartitions() >= partitions
        else files.repartition(partitions)
    )
    result = spread.select("path", udf(F.struct(F.col("content").alias("image_bytes"))).alias("r"))
    # MLflow turns the null strings of a struct result into "None": a row is good when its
    # probability is a number (a bad row's NaN arrives as null or NaN), and only then has a
    # class and topk; only a bad row has an error.
    good = F.col("r.probability").isNotNull() & ~F.isnan("r.probability")
    return result.select(
        "path",
        F.when(good, F.col("r.predicted_class")).alias("predicted_class"),
        F.when(good, F.col("r.probability")).alias("probability"),
        F.when(good, F.col("r.topk")).alias("topk"),
        F.when(~good, F.col("r.error")).alias("error"),
    )


def summarise_predictions(predictions: DataFrame) -> tuple[dict, dict]:
    """Counts of files, predictions, errors and per class (plus the first errors), and the
    same counts as MLflow metrics."""
    totals = predictions.agg(
        F.count("*").alias("n_files"), F.count("error").alias("n_errors")
    ).first()
    counts = {
        row["predicted_class"]: row["count"]
        for row in predictions.where(F.col("error").isNull())
        .groupBy("predicted_class")
        .count()
        .orderBy("predicted_class")
        .collect()
    }
    errors = (
        predictions.where(F.col("error").isNotNull())
        .select("path", "error")
        .orderBy("path")
        .limit(MAX_ERRORS_IN_REPORT)
        .collect()
    )
    report = {
        "n_files": totals["n_files"],
        "n_predicted": totals["n_files"] - totals["n_errors"],
        "n_errors": totals["n_errors"],
        "counts": counts,
        "errors": [row.asDict() for row in errors],
    }
    logger.info(
        "Scored %d files: %d predicted, %d errors",
        report["n_files"],
        report["n_predicted"],
        report["n_errors"],
    )
    metrics = {
        name: {"value": report[name], "step": 0} for name in ("n_files", "n_predicted", "n_errors")
    }
    metrics.update({f"count.{name}": {"value": n, "step": 0} for name, n in counts.items()})
    return report, metrics
