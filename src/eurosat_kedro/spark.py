"""The Spark session, built from ``conf/<env>/spark.yml`` on first use.

Only pipelines with a node tagged ``spark`` start it (see ``hooks.SparkHooks``), so every other
pipeline runs without a JVM. ``spark.master`` in the configuration points it at any cluster
(``spark://host:7077``, ``yarn``, ``k8s://...``); by default it is ``local[*]``.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)

SPARK_TAG = "spark"  # nodes with this tag need the Spark session
# MLflow's switch for its artifact download progress bars, and the value that turns them off
NO_PROGRESS_BARS = ("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
DEFAULT_CONFIG: dict[str, Any] = {
    "spark.master": "local[*]",
    "spark.app.name": "eurosat-kedro",
    "spark.sql.execution.arrow.pyspark.enabled": True,
    "spark.executorEnv.EUROSAT_ORT_THREADS": 1,
    # every task that loads the MLflow model would print MLflow's artifact download progress
    # bar (dozens of lines per load) into the job's log
    f"spark.executorEnv.{NO_PROGRESS_BARS[0]}": NO_PROGRESS_BARS[1],
}

_configured: dict[str, Any] = {}  # spark.yml of the current Kedro context (see configure)


def configure(config: dict[str, Any]) -> None:
    """Remember the project's ``spark.yml`` for the session that get_spark may start later
    (a node that needs Spark only for some parameters, e.g. ``runtime.engine: spark``)."""
    _configured.clear()
    _configured.update(config)


def check_java() -> str:
    """The ``java`` Spark will start (``$JAVA_HOME/bin/java``, else the one on PATH); a clear
    error saying what to install when there is none."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        java = Path(java_home) / "bin" / "java"
        if java.is_file():
            return str(java)
        raise RuntimeError(
            f"JAVA_HOME={java_home} holds no bin/java. Spark needs Java 17 or 21: point "
            "JAVA_HOME at its install, or unset JAVA_HOME to use the java on PATH."
        )
    java = shutil.which("java")
    if java is None:
        raise RuntimeError(
            "Spark needs Java 17 or 21 and no `java` was found (PATH, JAVA_HOME). Install one, "
            "e.g. `sudo apt-get install openjdk-17-jre-headless` (Debian/Ubuntu), "
            "`brew install openjdk@17` (macOS) or `conda install openjdk=17`, or set JAVA_HOME."
        )
    return java


def _conf_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def get_spark(config: dict[str, Any] | None = None) -> SparkSession:
    """The active Spark session, or a new one built from DEFAULT_CONFIG, the configured
    ``spark.yml`` and ``config``, in that order of precedence (last wins). In local mode the
    Python workers run this interpreter unless ``PYSPARK_PYTHON`` says otherwise."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    settings = {**DEFAULT_CONFIG, **_configured, **(config or {})}
    check_java()
    if str(settings["spark.master"]).startswith("local"):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder
    for key, value in settings.items():
        builder = builder.config(key, _conf_value(value))
    spark = builder.getOrCreate()
    logger.info("Spark %s session on %s", spark.version, spark.sparkContext.master)
    return spark
