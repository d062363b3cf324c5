"""The array, torch-model and ONNX datasets: round trip, missing file, describe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from kedro.io import DatasetError

from eurosat_kedro.datasets import ArrayBundleDataset, OnnxModelDataset, TorchModelDataset
from eurosat_kedro.models import ModelSpec, TrainedModel
from tests.conftest import tiny_onnx


def _tiny_onnx() -> onnx.ModelProto:
    return tiny_onnx({"classes": "A,B"})


@pytest.mark.parametrize(
    ("dataset_type", "name", "data"),
    [
        (
            ArrayBundleDataset,
            "a.npz",
            {
                "images": np.arange(24, dtype=np.uint8).reshape(2, 2, 2, 3),
                "labels": np.array([3, 1]),
                "paths": np.array(["a", "b"]),
            },
        ),
        (
            TorchModelDataset,
            "m.pt",
            TrainedModel({"w": torch.ones(2, 3)}, ModelSpec("x"), ("A", "B")),
        ),
        (OnnxModelDataset, "m.onnx", _tiny_onnx()),
    ],
)
def test_round_trip_missing_file_and_describe(tmp_path: Path, dataset_type, name, data):
    path = tmp_path / "sub" / name
    dataset = dataset_type(filepath=str(path))
    assert not dataset.exists()
    with pytest.raises(DatasetError, match=f"{path} does not exist: run"):
        dataset.load()
    dataset.save(data)
    assert dataset.exists() and not list(path.parent.glob("*.tmp*"))  # written atomically
    loaded = dataset.load()
    if isinstance(data, onnx.ModelProto):
        assert loaded.SerializeToString() == data.SerializeToString()
    elif dataset_type is TorchModelDataset:
        assert torch.equal(loaded.state_dict["w"], data.state_dict["w"])
        assert loaded.classes == data.classes and loaded.spec == data.spec
    else:
        assert loaded.keys() == data.keys()
        for key in data:
            np.testing.assert_array_equal(loaded[key], data[key])
    assert dataset._describe() == {"filepath": str(path), "version": None}


def test_torch_model_file_is_loaded_without_running_code(tmp_path: Path):
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "hook": print}, path)  # a pickled callable
    with pytest.raises(DatasetError, match="Weights only load failed"):
        TorchModelDataset(filepath=str(path)).load()


def test_a_torch_file_that_is_not_a_trained_model_names_what_it_lacks(tmp_path: Path):
    path = tmp_path / "other.pt"
    torch.save({"state_dict": {"w": torch.ones(1)}}, path)
    with pytest.raises(DatasetError, match=r"lacks \['spec', 'classes'\].*pipelines training"):
        TorchModelDataset(filepath=str(path)).load()
