"""A real `kedro viz` server on 127.0.0.1 shows every pipeline, node, layer and tag."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from kedro.framework.startup import bootstrap_project

PIPELINES = {"data_processing", "training", "evaluation", "deployment", "inference"}
LAYERS = ["raw", "intermediate", "primary", "model_input", "models", "model_output", "reporting"]


def test_kedro_viz_serves_all_pipelines_nodes_and_layers(project: Path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "kedro"), "viz", "run", "--host", "127.0.0.1",
         "--port", str(port), "--no-browser"],
        cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                response = requests.get(f"http://127.0.0.1:{port}/api/main", timeout=5)
                if response.ok:
                    break
            except requests.RequestException:
                pass
            assert process.poll() is None, "kedro viz exited before serving"
            assert time.monotonic() < deadline, "kedro viz did not start within 120 s"
            time.sleep(0.5)
        graph = response.json()
        per_pipeline = {
            name: requests.get(f"http://127.0.0.1:{port}/api/pipelines/{name}", timeout=10).json()
            for name in PIPELINES
        }
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)

    assert {p["id"] for p in graph["pipelines"]} == PIPELINES | {"__default__"}
    assert {t["id"] for t in graph["tags"]} == PIPELINES
    assert [layer for layer in graph["layers"]] == LAYERS
    bootstrap_project(project)
    from kedro.framework.project import pipelines

    for name in PIPELINES:
        shown = {n["name"] for n in per_pipeline[name]["nodes"] if n["type"] == "task"}
        assert shown == {node.name for node in pipelines[name].nodes}, name
    # every persisted dataset sits in a layer (MLflow metrics and in-memory data have none)
    no_layer = {n["name"] for name in PIPELINES for n in per_pipeline[name]["nodes"]
                if n["type"] == "data" and n.get("layer") not in LAYERS}
    assert no_layer == {"training_metrics", "test_metrics", "inference_inputs"}
