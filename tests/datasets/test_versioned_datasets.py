"""Kedro versioning (``versioned: true``) of every custom file dataset: two saves make two
timestamped versions; a load takes the latest, or the one ``--load-versions`` names."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from affine import Affine
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog, DatasetError, Version
from kedro.io.core import VersionAlreadyExistsError
from rasterio.crs import CRS

from eurosat_kedro.datasets import (
    ArrayBundleDataset,
    GeoTiffDataset,
    OnnxModelDataset,
    PyfuncModelDataset,
    TorchModelDataset,
)
from eurosat_kedro.mapping.grid import GeoGrid
from eurosat_kedro.models import ModelSpec, TrainedModel
from eurosat_kedro.serving.contract import ServingConfig
from eurosat_kedro.serving.package import PyfuncPackage
from tests.conftest import PROJECT_ROOT, tiny_onnx

# the pyfunc of a one-node test model is saved without an input example
pytestmark = pytest.mark.filterwarnings("ignore:.*An input example was not provided")


def _arrays(i: int) -> dict:
    return {"labels": np.array([i, i + 1])}


def _torch(i: int) -> TrainedModel:
    return TrainedModel({"w": torch.full((2,), float(i))}, ModelSpec("x"), ("A", "B"))


def _onnx(i: int):
    return tiny_onnx({"classes": "A,B", "i": str(i)})


def _grid(i: int) -> GeoGrid:
    values = np.full((2, 3), i, dtype=np.uint8)
    return GeoGrid(values, Affine(10, 0, 500000, 0, -10, 4000000), CRS.from_epsg(32633), 255)


def _pyfunc(i: int) -> PyfuncPackage:
    return PyfuncPackage(_onnx(i), ServingConfig(classes=("A", f"class{i}")))


# dataset, file name, data of version i, what identifies version i in the loaded data
CASES = {
    "ArrayBundleDataset": (ArrayBundleDataset, "a.npz", _arrays, lambda d: int(d["labels"][0])),
    "TorchModelDataset": (TorchModelDataset, "m.pt", _torch, lambda d: int(d.state_dict["w"][0])),
    "OnnxModelDataset": (
        OnnxModelDataset,
        "m.onnx",
        _onnx,
        lambda d: int({p.key: p.value for p in d.metadata_props}["i"]),
    ),
    "GeoTiffDataset": (GeoTiffDataset, "map.tif", _grid, lambda d: int(d.values[0, 0])),
    "PyfuncModelDataset": (
        PyfuncModelDataset,
        "mlflow_model",  # a folder
        _pyfunc,
        lambda d: int(d.unwrap_python_model().classifier.classes[1].removeprefix("class")),
    ),
}


def _save_two_versions(dataset_type, path: Path, data) -> list[str]:
    """Save versions 1 then 2, as two `kedro run`s would (a new save version each)."""
    for i in (1, 2):
        dataset_type(filepath=str(path), version=Version(None, None)).save(data(i))
        time.sleep(0.002)  # Kedro's timestamps have millisecond resolution
    return sorted(p.name for p in path.iterdir() if not p.name.startswith("."))


@pytest.mark.parametrize("name", list(CASES))
def test_two_saves_make_two_versions_latest_and_named_load(tmp_path: Path, name: str):
    dataset_type, file_name, data, which = CASES[name]
    path = tmp_path / "06_models" / file_name
    first, second = _save_two_versions(dataset_type, path, data)
    assert (path / first / file_name).exists() and (path / second / file_name).exists()
    assert not list(path.rglob(".*tmp*"))  # each version was written atomically

    latest = dataset_type(filepath=str(path), version=Version(None, None))
    assert latest.exists() and which(latest.load()) == 2
    assert latest.list_versions(full_path=False) == [second, first]
    named = dataset_type(filepath=str(path), version=Version(first, None))
    assert which(named.load()) == 1
    assert named._describe() == {"filepath": str(path), "version": Version(first, None)}


@pytest.mark.parametrize("name", ["TorchModelDataset", "PyfuncModelDataset"])
def test_a_missing_version_is_named_with_the_versions_there(tmp_path: Path, name: str):
    dataset_type, file_name, data, _ = CASES[name]
    path = tmp_path / file_name
    none_yet = dataset_type(filepath=str(path), version=Version(None, None))
    assert not none_yet.exists()
    with pytest.raises(DatasetError, match=f"{path} does not exist .*no version under it.*: run"):
        none_yet.load()
    first, second = _save_two_versions(dataset_type, path, data)
    wrong = dataset_type(filepath=str(path), version=Version("2020-01-01T00.00.00.000Z", None))
    listed = rf"versions under {path}: \['{second}', '{first}'\]\): run"
    missing = rf"2020-01-01T00.00.00.000Z/{file_name} does not exist"
    with pytest.raises(DatasetError, match=rf"{missing} \({listed}"):
        wrong.load()


def test_an_unfinished_folder_version_is_not_the_latest(tmp_path: Path):
    path = tmp_path / "mlflow_model"
    _save_two_versions(PyfuncModelDataset, path, _pyfunc)
    (path / "9999-12-31T00.00.00.000Z" / "mlflow_model").mkdir(parents=True)  # no MLmodel
    latest = PyfuncModelDataset(filepath=str(path), version=Version(None, None))
    assert CASES["PyfuncModelDataset"][3](latest.load()) == 2


# what docs/deployment.md tells users to put in conf/local/catalog.yml: an environment's entry
# replaces base's whole entry, so each one is given in full
LOCAL_CATALOG = """
trained_model:
  type: eurosat_kedro.datasets.TorchModelDataset
  filepath: ${globals:data_root}/06_models/model.pt
  versioned: true
onnx_model:
  type: eurosat_kedro.datasets.OnnxModelDataset
  filepath: ${globals:data_root}/06_models/model.onnx
  versioned: true
metrics:
  type: json.JSONDataset
  filepath: ${globals:data_root}/08_reporting/metrics.json
  versioned: true
"""


def _catalog(conf: Path, **versions) -> DataCatalog:
    from eurosat_kedro.settings import CONFIG_LOADER_ARGS

    loader = OmegaConfigLoader(str(conf), env="local", **CONFIG_LOADER_ARGS)
    return DataCatalog.from_config(loader["catalog"], **versions)


def test_versioned_entries_in_conf_local_save_versions_and_load_the_named_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The project's catalog with the conf/local overrides, as `kedro run` builds it: one
    save version per run, `--load-versions` (the catalog's load_versions) picks one."""
    conf = tmp_path / "conf"
    shutil.copytree(PROJECT_ROOT / "conf" / "base", conf / "base")
    (conf / "local").mkdir()
    (conf / "local" / "catalog.yml").write_text(LOCAL_CATALOG)
    monkeypatch.chdir(tmp_path)
    runs = []
    for i in (1, 2):
        run = f"2026-12-0{i}T10.00.00.000Z"  # a run's session id is its save version
        catalog = _catalog(conf, save_version=run)
        catalog.save("trained_model", _torch(i))
        catalog.save("onnx_model", _onnx(i))
        catalog.save("metrics", {"accuracy": i / 10})
        runs.append(run)
    models = tmp_path / "data" / "06_models"
    assert sorted(p.name for p in (models / "model.pt").iterdir()) == runs
    assert (models / "model.onnx" / runs[0] / "model.onnx").is_file()

    latest = _catalog(conf)
    assert int(latest.load("trained_model").state_dict["w"][0]) == 2
    assert latest.load("metrics") == {"accuracy": 0.2}
    pinned = _catalog(conf, load_versions={"trained_model": runs[0], "onnx_model": runs[0]})
    assert int(pinned.load("trained_model").state_dict["w"][0]) == 1
    assert CASES["OnnxModelDataset"][3](pinned.load("onnx_model")) == 1


def test_kedro_mlflow_artifact_wrappers_cannot_version_their_inner_dataset(tmp_path: Path):
    """Why docs/deployment.md replaces trained_model's MlflowArtifactDataset wrapper instead
    of versioning the dataset inside it: kedro-mlflow 2.0.3 builds the inner dataset with a
    save version of its own (and no load version), and Kedro >= 0.19.10 refuses a second save
    version in one catalog (kedro-org/kedro#4347). When this test fails, upstream fixed it."""
    config = {
        "trained_model": {
            "type": "kedro_mlflow.io.artifacts.MlflowArtifactDataset",
            "artifact_path": "model",
            "dataset": {
                "type": "eurosat_kedro.datasets.TorchModelDataset",
                "filepath": str(tmp_path / "model.pt"),
                "versioned": True,
            },
        },
    }
    catalog = DataCatalog.from_config(config, save_version="2026-12-01T10.00.00.000Z")
    with pytest.raises(VersionAlreadyExistsError, match="must have the same save version"):
        catalog["trained_model"]


def test_versioning_a_path_that_holds_an_unversioned_file_says_what_to_do(tmp_path: Path):
    path = tmp_path / "model.onnx"
    OnnxModelDataset(filepath=str(path)).save(_onnx(1))
    versioned = OnnxModelDataset(filepath=str(path), version=Version(None, None))
    with pytest.raises(DatasetError, match="no version under it"):
        versioned.load()
    with pytest.raises(DatasetError, match="Either remove 'model.onnx' from the directory"):
        versioned.save(_onnx(2))
    assert OnnxModelDataset(filepath=str(path)).load() == _onnx(1)  # left as it was
