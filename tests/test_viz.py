"""A real `kedro viz` server on 127.0.0.1 shows every pipeline, node, layer and tag."""

from __future__ import annotations

import sys
from pathlib import Path

import requests
from kedro.framework.startup import bootstrap_project

from tests.conftest import free_registered_port, running_server

PIPELINES = {
    "data_processing",
    "training",
    "evaluation",
    "deployment",
    "inference",
    "mapping",
    "batch_inference",
}
LAYERS = ["raw", "intermediate", "primary", "model_input", "models", "model_output", "reporting"]


def test_kedro_viz_serves_all_pipelines_nodes_and_layers(project: Path):
    command = [
        str(Path(sys.executable).parent / "kedro"),
        "viz",
        "run",
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--no-browser",
    ]
    with running_server(command, project, "/api/main", port=free_registered_port()) as url:
        graph = requests.get(f"{url}/api/main", timeout=10).json()
        per_pipeline = {
            name: requests.get(f"{url}/api/pipelines/{name}", timeout=10).json()
            for name in PIPELINES
        }

    assert {p["id"] for p in graph["pipelines"]} == PIPELINES | {"__default__"}
    assert {t["id"] for t in graph["tags"]} == PIPELINES | {"spark"}  # spark: needs Spark
    assert [layer for layer in graph["layers"]] == LAYERS
    bootstrap_project(project)
    from kedro.framework.project import pipelines

    for name in PIPELINES:
        shown = {n["name"] for n in per_pipeline[name]["nodes"] if n["type"] == "task"}
        assert shown == {node.name for node in pipelines[name].nodes}, name
    # every persisted dataset sits in a layer (MLflow metrics and in-memory data have none)
    no_layer = {
        n["name"]
        for name in PIPELINES
        for n in per_pipeline[name]["nodes"]
        if n["type"] == "data" and n.get("layer") not in LAYERS
    }
    assert no_layer == {
        "test_metrics",
        "int8_metrics",
        "inference_inputs",
        "int8_accuracy_drop",
        "serving_onnx_model",
        "test_split_fingerprint",
        "scene_stretch",
        "batch_image_files",
        "batch_inference_metrics",
    }
