"""A real `mlflow models serve` process on 127.0.0.1: good requests, every bad input, and
paths outside the allowed roots. The server is stopped by its PID."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image

from eurosat_kedro.serving.contract import OUTPUT_COLUMNS
from tests.conftest import (
    copy_trained_project,
    image_bytes,
    mlflow_serve_command,
    running_server,
)


@pytest.fixture(scope="module")
def served_project(trained_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the trained project for this module's server: tests write links into it."""
    return copy_trained_project(trained_project, tmp_path_factory.mktemp("served") / "project")


@pytest.fixture(scope="module")
def server(served_project: Path):
    command = mlflow_serve_command("data/sample/06_models/mlflow_model")
    # the default allowed root (data/ of the working directory) applies
    with running_server(command, served_project, "/ping", env={"EUROSAT_ALLOWED_ROOTS": ""}) as url:
        yield url


def _post(url: str, column: str, values: list[str]) -> requests.Response:
    body = {"dataframe_split": {"columns": [column], "data": [[v] for v in values]}}
    return requests.post(f"{url}/invocations", json=body, timeout=30)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _sample_image(project: Path) -> Path:
    folder = project / "data" / "sample" / "01_raw" / "extracted" / "EuroSAT_RGB" / "SeaLake"
    return sorted(folder.iterdir())[0]


def test_path_and_base64_give_the_same_prediction(server: str, served_project: Path):
    image = _sample_image(served_project)
    by_path = _post(server, "image_path", [str(image)])
    relative = _post(server, "image_path", [str(image.relative_to(served_project))])
    by_b64 = _post(server, "image_b64", [_b64(image.read_bytes())])
    assert by_path.status_code == relative.status_code == by_b64.status_code == 200
    first = by_path.json()["predictions"][0]
    assert first == relative.json()["predictions"][0] == by_b64.json()["predictions"][0]
    assert tuple(first) == OUTPUT_COLUMNS and first["error"] is None
    assert first["probability"] == first["topk"][0]["probability"]
    assert first["topk"][0]["class"] == first["predicted_class"]
    assert sum(first["probabilities"].values()) == pytest.approx(1.0)


def _bomb() -> bytes:
    buffer = io.BytesIO()
    Image.new("1", (6000, 6000)).save(buffer, format="PNG")  # 36 Mpx in a few kB
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (b"plain text, not an image", "not an image"),
        (image_bytes()[:200], "cannot decode"),
        (b"\xff\xd8\xff\xe0" + bytes(100), "not an image"),
        (_bomb(), "decompression bomb"),
    ],
)
def test_bad_base64_image_is_a_4xx_naming_the_row(
    server: str, served_project: Path, payload: bytes, problem: str
):
    good = _b64(_sample_image(served_project).read_bytes())
    response = _post(server, "image_b64", [good, _b64(payload)])
    assert 400 <= response.status_code < 500
    assert "row 1: " in response.json()["message"]
    assert problem in response.json()["message"]
    assert _post(server, "image_b64", [good]).status_code == 200  # still serving


@pytest.mark.parametrize(("mode", "fmt"), [("L", "JPEG"), ("RGBA", "PNG"), ("RGB", "PNG")])
def test_grayscale_rgba_and_png_are_converted(server: str, mode: str, fmt: str):
    response = _post(server, "image_b64", [_b64(image_bytes(mode=mode, fmt=fmt))])
    assert response.status_code == 200, response.text


def test_a_failed_row_is_answered_with_nulls_and_its_reason(server: str, served_project: Path):
    """``on_error: row`` through the real server: the failed row's class and probability are
    JSON null (the pyfunc hands the server records, which it does only once MLflow's app has
    announced itself by ``_MLFLOW_IS_IN_SERVING_ENVIRONMENT``; a DataFrame would give NaN)."""
    good = _b64(_sample_image(served_project).read_bytes())
    body = {
        "dataframe_split": {"columns": ["image_b64"], "data": [[good], [_b64(b"not an image")]]},
        "params": {"on_error": "row"},
    }
    response = requests.post(f"{server}/invocations", json=body, timeout=30)
    assert response.status_code == 200, response.text
    assert "NaN" not in response.text
    answered, failed = response.json()["predictions"]
    assert answered["error"] is None and answered["predicted_class"]
    assert failed["predicted_class"] is None and failed["probability"] is None
    assert "not an image" in failed["error"]


def test_missing_file_is_a_4xx(server: str, served_project: Path):
    response = _post(server, "image_path", [str(served_project / "data" / "nope.jpg")])
    assert response.status_code == 400 and "row 0: " in response.json()["message"]
    assert "no such file" in response.json()["message"]


def test_paths_outside_the_allowed_roots_are_refused(
    server: str, served_project: Path, tmp_path: Path
):
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(image_bytes())
    link = served_project / "data" / "link_to_secret.jpg"
    link.symlink_to(secret)
    for path in [
        "/etc/passwd",
        str(secret),
        "data/../../secret.jpg",
        f"data/../{'../' * 10}etc/hostname",
        str(link),
    ]:
        response = _post(server, "image_path", [path])
        assert response.status_code == 400, path
        assert "outside the allowed roots" in response.json()["message"], path
    assert np.isfinite(
        _post(server, "image_b64", [_b64(image_bytes())]).json()["predictions"][0]["topk"][0][
            "probability"
        ]
    )


def test_unreadable_paths_get_a_clear_400(server: str, served_project: Path):
    loop = served_project / "data" / "loop.jpg"
    loop.symlink_to(loop)  # resolves to itself
    cases = {
        str(loop): "cannot be read",
        "data/a\x00b.jpg": "NUL byte",
        "data/" + "x" * 5000 + ".jpg": "more than the 4096",
        "data/" + "y" * 300 + ".jpg": "cannot be read: File name too long",
    }
    for path, problem in cases.items():
        response = _post(server, "image_path", [path])
        assert response.status_code == 400, (path[:40], response.text[:300])
        assert "row 0: " in response.json()["message"] and problem in response.json()["message"]


def test_a_row_with_both_inputs_and_a_tiny_image_are_refused(server: str, served_project: Path):
    image = _sample_image(served_project)
    body = {
        "dataframe_split": {
            "columns": ["image_path", "image_b64"],
            "data": [[str(image), _b64(image.read_bytes())], [str(image), None]],
        }
    }
    response = requests.post(f"{server}/invocations", json=body, timeout=30)
    assert response.status_code == 400
    # MLflow's scoring server prefixes the model's message with the request it failed on
    assert response.json()["message"].endswith(
        "Error: row 0: both image_path and image_b64 are set; send one"
    )
    tiny = _post(server, "image_b64", [_b64(image_bytes(size=1, fmt="PNG"))])
    assert tiny.status_code == 400 and "1x1 pixels: too small to classify" in tiny.text
    small_enough = _post(server, "image_b64", [_b64(image_bytes(size=16, fmt="PNG"))])
    assert small_enough.status_code == 200
