"""A real `kedro viz` server on 127.0.0.1 shows every registered pipeline, node, tag and the
catalog's layers."""

from __future__ import annotations

import sys
from pathlib import Path

import requests
from kedro.framework.startup import bootstrap_project

from tests.conftest import (
    LAYERS,
    catalog_config,
    catalog_entry,
    free_registered_port,
    running_server,
    viz_layer,
)


def test_kedro_viz_serves_all_pipelines_nodes_and_layers(project: Path):
    bootstrap_project(project)
    from kedro.framework.project import pipelines

    registered = dict(pipelines)
    catalog = catalog_config("local")  # `kedro viz run` loads the default environment
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
        shown = {
            name: requests.get(f"{url}/api/pipelines/{name}", timeout=10).json()
            for name in registered
        }

    assert {p["id"] for p in graph["pipelines"]} == set(registered)
    node_tags = {tag for p in registered.values() for node in p.nodes for tag in node.tags}
    assert {t["id"] for t in graph["tags"]} == node_tags
    for name, pipeline in registered.items():
        tasks = {n["name"] for n in shown[name]["nodes"] if n["type"] == "task"}
        assert tasks == {node.name for node in pipeline.nodes}, name
        # each dataset in its catalog layer; in-memory data and MLflow metrics in none
        data = {n["name"]: n.get("layer") for n in shown[name]["nodes"] if n["type"] == "data"}
        assert data == {d: viz_layer(catalog_entry(catalog, d)) for d in data}, name
        datasets = {d for d in pipeline.datasets() if d != "parameters" and ":" not in d}
        assert set(data) == datasets, name
        assert {layer for layer in data.values() if layer} <= set(shown[name]["layers"]), name
    # the default run draws every layer in use among Kedro's, in data-flow order
    in_use = {
        viz_layer(catalog_entry(catalog, d)) for p in registered.values() for d in p.datasets()
    }
    assert graph["layers"] == [layer for layer in LAYERS if layer in in_use]
