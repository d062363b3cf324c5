"""Shared fixtures: tiny generated EuroSAT-like archives and a throw-away copy of the project."""

from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import numpy as np
import onnx
import pytest
import requests
from kedro.config import OmegaConfigLoader
from kedro.io.catalog_config_resolver import CatalogConfigResolver
from omegaconf import OmegaConf
from PIL import Image

from eurosat_kedro.ports import free_port

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_ZIP = PROJECT_ROOT / "data" / "sample" / "EuroSAT_RGB_sample.zip"
CLASSES = [
    "AnnualCrop",
    "Forest",
    "HerbaceousVegetation",
    "Highway",
    "Industrial",
    "Pasture",
    "PermanentCrop",
    "Residential",
    "River",
    "SeaLake",
]

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault(
    "MLFLOW_DISABLE_TELEMETRY", "true"
)  # MLflow reads DO_NOT_TRACK only as "true"


def image_bytes(
    color: tuple[int, int, int] = (10, 120, 30),
    size: int = 64,
    mode: str = "RGB",
    fmt: str = "JPEG",
    seed: int = 0,
) -> bytes:
    """A small noisy image encoded in memory."""
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(color) + rng.integers(-20, 20, (size, size, 3)), 0, 255)
    image = Image.fromarray(pixels.astype(np.uint8), "RGB").convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def write_image_tree(root: Path, per_class: int = 6, classes: list[str] = CLASSES) -> Path:
    """``root/EuroSAT_RGB/<Class>/<Class>_<i>.jpg`` with distinct colours per class."""
    for label, name in enumerate(classes):
        folder = root / "EuroSAT_RGB" / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            color = (25 * label, 255 - 25 * label, (60 * label) % 256)
            (folder / f"{name}_{i + 1}.jpg").write_bytes(image_bytes(color, seed=label * 100 + i))
    return root / "EuroSAT_RGB"


def zip_tree(folder: Path, archive: Path) -> Path:
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder.parent).as_posix())
    return archive


def tiny_arrays(n_per_class: int, n_classes: int = 10, seed: int = 0) -> dict:
    """Images whose mean colour depends on the class, plus noise: learnable in a few steps."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_classes), n_per_class)
    base = np.stack([np.full((64, 64, 3), (25 * c, 255 - 25 * c, (70 * c) % 256)) for c in labels])
    images = np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype(np.uint8)
    return {"images": images, "labels": labels.astype(np.int64)}


@pytest.fixture
def image_tree(tmp_path: Path) -> Path:
    """An extracted EuroSAT-like folder with 6 generated images per class."""
    return write_image_tree(tmp_path / "extracted")


@pytest.fixture
def tiny_zip(tmp_path: Path) -> Path:
    """A EuroSAT-like zip with 6 generated images per class."""
    return zip_tree(write_image_tree(tmp_path / "src"), tmp_path / "tiny.zip")


def copy_project(root: Path) -> Path:
    """Copy conf, src and the committed sample into ``root``."""
    root.mkdir(parents=True)
    for name in ("conf", "src"):
        shutil.copytree(
            PROJECT_ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__", "local")
        )
    (root / "conf" / "local").mkdir(exist_ok=True)
    for name in ("pyproject.toml", ".telemetry"):
        shutil.copy(PROJECT_ROOT / name, root / name)
    (root / "data" / "sample").mkdir(parents=True)
    shutil.copy(SAMPLE_ZIP, root / "data" / "sample" / SAMPLE_ZIP.name)
    return root


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the project in a temporary folder, made the working directory, so runs write
    their data and ``mlflow.db`` there."""
    root = copy_project(tmp_path / "project")
    monkeypatch.chdir(root)
    return root


@pytest.fixture(scope="session")
def trained_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project copy on which `kedro run --env sample` (all pipelines) has run once."""
    root = copy_project(tmp_path_factory.mktemp("trained") / "project")
    previous = Path.cwd()
    os.chdir(root)
    try:
        run_session(root, env="sample")
    finally:
        os.chdir(previous)
    return root


def run_session(
    project_root: Path,
    env: str | None = None,
    pipeline: str | list[str] | None = None,
    params: dict | None = None,
) -> dict:
    """Run the project in-process through a KedroSession, as `kedro run` does (a list of
    pipelines as `kedro run --pipelines a,b`)."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    os.environ.pop("MLFLOW_RUN_ID", None)
    bootstrap_project(project_root)
    # as `kedro run --params "a.b=1"` does: dotted keys become nested ones
    nested = OmegaConf.to_container(
        OmegaConf.from_dotlist([f"{key}={value}" for key, value in (params or {}).items()])
    )
    with KedroSession.create(project_path=project_root, env=env, runtime_params=nested) as session:
        names = [pipeline] if isinstance(pipeline, str) else pipeline
        return session.run(pipeline_names=names or None)


def copy_trained_data(trained: Path, root: Path) -> Path:
    """A new project copy at ``root`` holding ``trained``'s sample data (processed arrays,
    models and reports) but not its MLflow store."""
    copy_project(root)
    shutil.rmtree(root / "data" / "sample")
    shutil.copytree(trained / "data" / "sample", root / "data" / "sample", symlinks=True)
    return root


def copy_trained_project(trained: Path, root: Path) -> Path:
    """``copy_trained_data`` plus ``trained``'s MLflow store (``mlflow.db`` and ``mlruns``),
    the store's paths moved to ``root``: runs, registered versions and the champion alias are
    there, and what a run logs in the copy lands in the copy."""
    copy_trained_data(trained, root)
    shutil.copytree(trained / "mlruns", root / "mlruns", symlinks=True)
    shutil.copy(trained / "mlflow.db", root / "mlflow.db")
    old, new = str(trained), str(root)
    with closing(sqlite3.connect(root / "mlflow.db")) as db, db:
        tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for _, column, kind, *_ in db.execute(f'PRAGMA table_info("{table}")'):
                if "CHAR" in kind.upper() or "TEXT" in kind.upper():
                    db.execute(
                        f'UPDATE "{table}" SET "{column}" = replace("{column}", ?, ?) '
                        f'WHERE instr("{column}", ?) > 0',
                        (old, new, old),
                    )
    return root


@pytest.fixture
def trained_copy(trained_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of ``trained_project`` (its data/sample outputs, conf, src and MLflow
    store with the registry and champion), made the working directory: for tests that run
    pipelines or otherwise write, so the shared session project stays as the sample run left it.
    """
    root = copy_trained_project(trained_project, tmp_path / "project")
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def mlflow_experiment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The id of an experiment in a new MLflow store of its own under tmp_path (the globally
    active experiment may be another test's store's); the tracking URI is restored after."""
    import mlflow

    previous = mlflow.get_tracking_uri()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)  # mlflow.set_tracking_uri copies it there
    mlflow.set_tracking_uri(uri)
    yield mlflow.MlflowClient().create_experiment("test", (tmp_path / "mlruns").as_uri())
    mlflow.set_tracking_uri(previous)


def free_registered_port(seed: int = 0) -> int:
    """A free 127.0.0.1 port below 49152: `kedro viz` refuses the ephemeral range that the
    OS hands out for port 0."""
    rng = np.random.default_rng([os.getpid(), seed, time.time_ns()])
    for port in rng.integers(20000, 49152, 200):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", int(port)))
            except OSError:
                continue
            return int(port)
    raise RuntimeError("no free port between 20000 and 49151")


def mlflow_serve_command(model_uri: str) -> list[str]:
    """`mlflow models serve` of ``model_uri`` on 127.0.0.1 in this Python (for running_server)."""
    return [sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri,
            "-h", "127.0.0.1", "-p", "{port}", "--env-manager", "local"]  # fmt: skip


def stop_process_group(process: subprocess.Popen) -> None:
    """SIGTERM the process group started with ``start_new_session``; SIGKILL it after 30 s."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def tiny_onnx(props: dict[str, str]) -> onnx.ModelProto:
    """A one-node ONNX model (Relu) with metadata ``props``."""
    node = onnx.helper.make_node("Relu", ["x"], ["y"])
    graph = onnx.helper.make_graph(
        [node],
        "tiny",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])],
    )
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 18)])
    onnx.helper.set_model_props(model, props)
    return model


@contextmanager
def running_server(
    command: list[str],
    cwd: Path,
    ready_path: str,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    port: int | None = None,
) -> Iterator[str]:
    """Start ``command`` (which gets ``{port}`` filled in) on ``port`` (default: a free
    127.0.0.1 port), wait until ``ready_path`` answers, yield the base URL, then stop the
    process group by its PID.

    The venv's bin folder is put first on PATH, as an activated venv would be.
    """
    port = port or free_port()
    environment = {
        **os.environ,
        **(env or {}),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    log = cwd / f"server-{port}.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [part.format(port=port) for part in command],
            cwd=cwd,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if requests.get(f"{url}{ready_path}", timeout=5).ok:
                    break
            except requests.RequestException:
                pass
            assert process.poll() is None, (
                f"{command[:3]} exited before serving:\n{log.read_text()[-3000:]}"
            )
            assert time.monotonic() < deadline, f"{command[:3]} did not start in {timeout} s"
            time.sleep(0.5)
        yield url
    finally:
        stop_process_group(process)


@pytest.fixture(scope="session")
def spark():
    """One local[2] Spark session for every test of the run that needs Spark."""
    from eurosat_kedro.spark import get_spark

    session = get_spark(
        {
            "spark.master": "local[2]",
            "spark.ui.enabled": False,
            "spark.sql.shuffle.partitions": 4,
            "spark.driver.memory": "1g",
        }
    )
    yield session
    session.stop()


# Kedro's data layers in data-flow order (the data folders 01_raw ... 08_reporting)
LAYERS = ["raw", "intermediate", "primary", "feature", "model_input", "models", "model_output",
          "reporting"]  # fmt: skip


def catalog_config(env: str) -> CatalogConfigResolver:
    """The project's catalog entries in ``env`` (as settings.py loads them), factories too."""
    from eurosat_kedro.settings import CONFIG_LOADER_ARGS

    loader = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), env=env, **CONFIG_LOADER_ARGS)
    return CatalogConfigResolver(config=loader["catalog"])


def catalog_entry(catalog: CatalogConfigResolver, name: str) -> dict | None:
    """The catalog entry of dataset ``name`` (its own or a factory's); None if undeclared."""
    if name in catalog.config:
        return catalog.config[name]
    return catalog.resolve_pattern(name) if catalog.match_dataset_pattern(name) else None


def viz_layer(entry: dict | None) -> str | None:
    """The kedro-viz layer of a catalog entry."""
    return (((entry or {}).get("metadata") or {}).get("kedro-viz") or {}).get("layer")
