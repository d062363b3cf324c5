"""Nodes of the batch_inference pipeline: score the image files (the catalog's
``batch_image_files``, read by Spark) with the MLflow pyfunc model through
``mlflow.pyfunc.spark_udf``, and count the classes."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

import mlflow
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from eurosat_kedro.datasets.served_model_dataset import ServedModel
from eurosat_kedro.serving.contract import MAX_ERRORS_IN_SUMMARY, SPARK_RESULT_TYPE, summary
from eurosat_kedro.spark import NO_PROGRESS_BARS

logger = logging.getLogger(__name__)


@contextmanager
def _no_progress_bars() -> Iterator[None]:
    """MLflow's artifact progress bars off for the block (a batch job's log is no terminal);
    the executors have them off through ``spark.executorEnv`` (``eurosat_kedro.spark``)."""
    name, value = NO_PROGRESS_BARS
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


def spark_model_uri(model: ServedModel) -> str:
    """The URI Spark workers load the model by, once it is known to answer bad rows per row
    (an MLflow pyfunc with the ``on_error`` param)."""
    if model.mlflow_uri is None:
        raise ValueError(
            f"batch_inference.model_uri {model.model_uri!r} is a bare ONNX file; Spark scores "
            "MLflow models: pass the model folder, a runs:/ or a models:/ URI."
        )
    if "on_error" not in model.params:
        raise ValueError(
            f"batch_inference.model_uri {model.model_uri!r} predates per-row errors (no "
            "`on_error` param in its signature): package it again with the deployment pipeline."
        )
    return model.mlflow_uri


def predict_image_files(
    batch_image_files: DataFrame, batch_inference_model: ServedModel, partitions: int | None
) -> DataFrame:
    """Exactly one row per file in the serving contract's ``TABLE_COLUMNS``: ``path``,
    ``predicted_class``, ``probability`` (top class), ``topk`` (class, probability),
    ``unknown`` (below the model's "unknown" threshold) and ``error`` (null, or why the file
    has no prediction)."""
    uri = spark_model_uri(batch_inference_model)
    files = batch_image_files
    spark = files.sparkSession
    partitions = partitions or 4 * spark.sparkContext.defaultParallelism
    with _no_progress_bars():  # spark_udf copies the model on the driver
        udf = mlflow.pyfunc.spark_udf(
            spark,
            uri,
            result_type=SPARK_RESULT_TYPE,
            env_manager="local",
            params={"on_error": "row"},
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
        F.when(good, F.col("r.unknown")).alias("unknown"),
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
        .limit(MAX_ERRORS_IN_SUMMARY)
        .collect()
    )
    report = summary(
        totals["n_files"],
        counts,
        [(row["path"], row["error"]) for row in errors],
        totals["n_errors"],
    )
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
