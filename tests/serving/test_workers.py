"""`mlflow models serve --workers 2` of the sample model on 127.0.0.1: each worker sizes ONNX
Runtime's threads to its share of the cores and says so in the server log, and a browser's
data URL and line-wrapped base64 are answered like plain base64. Stopped by its PID."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest
import requests

from eurosat_kedro.serving.providers import cpu_cores
from tests.conftest import mlflow_serve_command, running_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(trained_project: Path, tmp_path_factory: pytest.TempPathFactory):
    model = trained_project / "data" / "sample" / "06_models" / "mlflow_model"
    command = [*mlflow_serve_command(str(model)), "--workers", "2"]
    cwd = tmp_path_factory.mktemp("two_workers")  # the server's log goes here
    env = {"EUROSAT_ORT_THREADS": "", "EUROSAT_ORT_PROVIDERS": ""}
    with running_server(command, cwd, "/ping", env=env) as url:
        yield url, next(cwd.glob("server-*.log"))


def _worker_lines(log: Path, workers: int, timeout: float = 180) -> list[str]:
    """The classifier's line of each worker (a worker may still be loading after /ping)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [line for line in log.read_text().splitlines() if "ONNX Runtime runs on" in line]
        if len(lines) >= workers or time.monotonic() > deadline:
            return lines
        time.sleep(0.5)


def test_each_worker_takes_its_share_of_the_cores(server):
    _, log = server
    lines = _worker_lines(log, 2)
    assert len(lines) == 2, log.read_text()[-3000:]
    threads = max(1, cpu_cores() // 2)
    for line in lines:
        assert (
            "INFO eurosat_kedro.serving.classifier: ONNX Runtime runs on CPUExecutionProvider"
            in line
        )
        assert line.endswith(f", {threads} intra-op threads")


def test_a_data_url_and_wrapped_base64_are_answered_like_base64(trained_project: Path, server):
    url, _ = server
    folder = trained_project / "data" / "sample" / "01_raw" / "extracted" / "EuroSAT_RGB" / "River"
    text = base64.b64encode(sorted(folder.iterdir())[0].read_bytes()).decode()
    wrapped = "\n".join(text[i : i + 76] for i in range(0, len(text), 76)) + "\n"
    rows = [[text], ["data:image/jpeg;base64," + text], [wrapped]]
    body = {"dataframe_split": {"columns": ["image_b64"], "data": rows}}
    response = requests.post(f"{url}/invocations", json=body, timeout=60)
    assert response.status_code == 200, response.text
    plain, data_url, lines = response.json()["predictions"]
    assert plain == data_url == lines and plain["error"] is None
