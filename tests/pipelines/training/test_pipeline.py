"""The training pipeline on an in-memory catalog with SequentialRunner, as Kedro's starters
test their pipelines: no session, no files, no MLflow."""

from __future__ import annotations

import pytest
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner

from eurosat_kedro.models import ModelSpec, build_model
from eurosat_kedro.pipelines.training import create_pipeline
from tests.pipelines.training.test_loop import tiny_arrays

CLASSES = [f"class{i}" for i in range(10)]


def _catalog(**training) -> DataCatalog:
    catalog = DataCatalog()
    catalog["train_arrays"] = tiny_arrays(2)
    catalog["val_arrays"] = tiny_arrays(1, seed=1)
    catalog["classes"] = CLASSES
    catalog["params:model"] = {"name": "simple_cnn", "width": 8}
    catalog["params:training"] = {"epochs": 2, "batch_size": 8, "num_threads": 1, **training}
    return catalog


def test_training_pipeline_returns_a_rebuildable_model_and_its_history():
    outputs = SequentialRunner().run(create_pipeline(), _catalog())
    bundle = outputs["trained_model"].load()
    history = outputs["training_history"].load()
    assert [row["epoch"] for row in history] == [1, 2]
    assert bundle["classes"] == CLASSES and bundle["best_epoch"] in (1, 2)
    model = build_model(ModelSpec(**bundle["spec"]))
    model.load_state_dict(bundle["state_dict"])


def test_unknown_model_parameter_is_named():
    catalog = _catalog()
    catalog["params:model"] = {"name": "simple_cnn", "widht": 8}
    with pytest.raises(ValueError, match=r"unknown model parameter\(s\) \['widht'\]"):
        SequentialRunner().run(create_pipeline(), catalog)
