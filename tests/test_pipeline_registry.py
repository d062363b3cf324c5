"""Every pipeline is registered, and every node is named after the function it runs."""

from __future__ import annotations

from pathlib import Path

from kedro.framework.project import pipelines
from kedro.framework.startup import bootstrap_project


def test_node_names_equal_their_function_names(project: Path):
    bootstrap_project(project)
    assert {"data_processing", "training", "evaluation", "deployment", "inference"} <= set(
        pipelines
    )
    for name, pipeline in pipelines.items():
        for node in pipeline.nodes:
            assert node.name == node.func.__name__, (name, node.name)
    assert "inference" not in {node.name for node in pipelines["__default__"].nodes}
