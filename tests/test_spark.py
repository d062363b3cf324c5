"""The Spark session helper: a clear error without Java, and no JVM for pipelines without
Spark nodes."""

from __future__ import annotations

import pytest
from kedro.pipeline import Node, Pipeline

from eurosat_kedro import spark as spark_module
from eurosat_kedro.hooks import SparkHooks


def test_no_java_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match="Spark needs Java 17 or 21.*openjdk-17"):
        spark_module.check_java()
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(RuntimeError, match=f"JAVA_HOME={tmp_path} holds no bin/java"):
        spark_module.check_java()


def _pipeline(tags: list[str]) -> Pipeline:
    return Pipeline([Node(lambda x: x, "a", "b", name="n", tags=tags)])


def test_the_hook_starts_spark_only_for_spark_nodes(monkeypatch):
    started = []
    monkeypatch.setattr(spark_module, "get_spark", lambda: started.append(True))
    hook = SparkHooks()
    hook.before_pipeline_run(_pipeline(["training"]))
    assert started == []
    hook.before_pipeline_run(_pipeline(["spark"]))
    assert started == [True]
