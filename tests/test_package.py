"""The packaged deployment (docs/deployment.md): the wheel and the conf archive that
`kedro package` makes, installed in a fresh venv and run from a folder that holds neither the
project's src/ nor its conf/. Offline: nothing is downloaded."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pandas as pd
import pytest

from eurosat_kedro.serving.classifier import OnnxClassifier
from tests.conftest import PROJECT_ROOT


def _run(command: list, cwd: Path, env: dict | None = None, timeout: float = 300) -> str:
    """Run ``command`` without PYTHONPATH (Kedro's bootstrap_project puts a project's src/ on
    it), so the fresh venv sees only what is installed in it."""
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env={**environment, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{command[:4]} failed:\n{output[-6000:]}"
    return done.stdout


def build_package(tmp_path: Path) -> tuple[Path, Path]:
    """What `kedro package` makes, from a copy of the project (so nothing is written into the
    repository): the wheel, built without build isolation and without an index (offline), and
    the conf archive, made with the command `kedro package` runs (local/*.yml left out)."""
    source = tmp_path / "source"
    source.mkdir()
    shutil.copytree(
        PROJECT_ROOT / "src",
        source / "src",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
    )
    shutil.copytree(PROJECT_ROOT / "conf", source / "conf")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(PROJECT_ROOT / name, source / name)
    dist = tmp_path / "dist"
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "--wheel-dir", dist, source],
        tmp_path,
    )  # fmt: skip
    archive = dist / "conf-eurosat_kedro.tar.gz"
    _run(["tar", "--exclude=local/*.yml", "-czf", archive, f"--directory={source}", "conf"], source)
    (wheel,) = dist.glob("eurosat_kedro-*.whl")
    return wheel, archive


def fresh_venv(tmp_path: Path, wheel: Path) -> Path:
    """A new venv with the wheel installed (``--no-deps --no-index``); the project venv's
    installed libraries are made visible through a .pth file that names its site-packages as a
    plain path, so its editable eurosat_kedro (a .pth of its own, not processed) stays out."""
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv], tmp_path)
    python = venv / "bin" / "python"
    _run([python, "-m", "pip", "install", "--no-deps", "--no-index", wheel], tmp_path)
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     tmp_path).strip())  # fmt: skip
    (site / "project_libraries.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


@pytest.mark.slow
def test_the_packaged_wheel_runs_inference_from_a_fresh_venv(trained_copy: Path, tmp_path: Path):
    wheel, archive = build_package(tmp_path)
    venv = fresh_venv(tmp_path, wheel)
    python = venv / "bin" / "python"
    elsewhere = tmp_path / "deploy"  # no src/, no conf/, no pyproject.toml
    elsewhere.mkdir()
    where = _run([python, "-c", "import eurosat_kedro; print(eurosat_kedro.__file__)"], elsewhere)
    assert Path(where.strip()).is_relative_to(venv)  # the wheel's copy, not the source tree
    assert (venv / "bin" / "eurosat-kedro").is_file()  # the project's entry point

    image = sorted((trained_copy / "data/sample/01_raw/extracted/EuroSAT_RGB/River").iterdir())[0]
    store = f"sqlite:///{trained_copy / 'mlflow.db'}"  # the registry of the sample run
    _run(
        [python, "-m", "eurosat_kedro", f"--conf-source={archive}", "--env", "sample",
         "--pipelines", "inference", "--params",
         f"inference.image_path={image},inference.model_uri=models:/eurosat-landuse-sample@champion"],
        elsewhere,
        env={"MLFLOW_TRACKING_URI": store},
    )  # fmt: skip

    written = json.loads((elsewhere / "data/sample/07_model_output/inference.json").read_text())
    assert written["path"] == str(image)
    models = trained_copy / "data" / "sample"
    classes = json.loads((models / "02_intermediate" / "classes.json").read_text())
    classifier = OnnxClassifier(models / "06_models" / "model.onnx", classes)
    expected = classifier.predict_frame(pd.DataFrame({"image_path": [str(image)]}))
    assert written["predicted_class"] == expected["predicted_class"][0]
    assert written["probabilities"] == pytest.approx(expected["probabilities"][0], abs=1e-6)
    assert not (elsewhere / "src").exists() and not (elsewhere / "conf").exists()
