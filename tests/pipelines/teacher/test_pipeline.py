"""The teacher pipeline: the training recipe without its teacher, whose output the training
pipeline's student learns from; in memory with SequentialRunner, then through `kedro run` on
the committed sample, resumed in the MLflow run that trained it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import mlflow
import pytest
import torch
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner

from eurosat_kedro.datasets import TorchModelDataset
from eurosat_kedro.models import ModelSpec
from eurosat_kedro.pipelines.teacher import create_pipeline as teacher_pipeline
from eurosat_kedro.pipelines.training import create_pipeline as training_pipeline
from eurosat_kedro.pipelines.training.nodes import train_teacher
from eurosat_kedro.training.config import TrainConfig
from eurosat_kedro.training.distill import weights_sha256
from tests.conftest import CLASSES, copy_trained_data, run_session, tiny_arrays

TRAINING = {"epochs": 2, "batch_size": 8, "distill": {"teacher": "teacher.pt"}}


def _catalog(tmp_path: Path, **training) -> DataCatalog:
    catalog = DataCatalog()
    catalog["train_arrays"] = tiny_arrays(2)
    catalog["val_arrays"] = tiny_arrays(1, seed=1)
    catalog["classes"] = CLASSES
    catalog["params:model"] = {"name": "simple_cnn", "width": 8}
    catalog["params:training"] = {**TRAINING, **training}
    catalog["params:runtime"] = {
        "device": "cpu",
        "num_threads": 1,
        "checkpoint_path": str(tmp_path / "student.pt"),
        "teacher_checkpoint_path": str(tmp_path / "teacher.pt"),
    }
    catalog["data_report"] = {"source": None}
    return catalog


def test_the_teacher_trains_first_on_the_recipe_without_a_teacher_then_teaches_the_student(
    tmp_path: Path,
):
    outputs = SequentialRunner().run(teacher_pipeline() + training_pipeline(), _catalog(tmp_path))
    outputs = {name: outputs[name].load() for name in outputs}  # what no node consumed
    assert len(outputs["teacher_training_history"]) == 2 and len(outputs["training_history"]) == 2
    assert "teacher_model" not in outputs  # the student's input, made within the run

    spec = ModelSpec.from_params({"name": "simple_cnn", "width": 8}, len(CLASSES))
    recipe = TrainConfig.from_params(TRAINING, spec.to_dict())
    teacher_checkpoint = torch.load(tmp_path / "teacher.pt", weights_only=False)
    assert teacher_checkpoint["config"] == recipe.without_teacher().fingerprint()
    assert "teacher_sha256" not in teacher_checkpoint["config"]  # it learned from labels alone
    student_checkpoint = torch.load(tmp_path / "student.pt", weights_only=False)
    teacher_weights = weights_sha256(teacher_checkpoint["best_state"])
    assert student_checkpoint["config"]["teacher_sha256"] == teacher_weights
    student = outputs["trained_model"]
    assert weights_sha256(student.state_dict) == weights_sha256(student_checkpoint["best_state"])


def test_a_teacher_pipeline_without_a_teacher_file_to_train_is_refused(tmp_path: Path):
    catalog = _catalog(tmp_path)
    with pytest.raises(ValueError, match=r"training.distill.teacher is null: name the teacher"):
        train_teacher(
            catalog["train_arrays"].load(),
            catalog["val_arrays"].load(),
            CLASSES,
            catalog["params:model"].load(),
            {"epochs": 1},
            catalog["params:runtime"].load(),
        )
    assert not (tmp_path / "teacher.pt").exists()


TEACHER_FILE = "data/sample/06_models/teacher.pt"


def test_kedro_run_trains_teacher_and_student_in_one_mlflow_run_and_resumes_the_teacher(
    trained_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """`kedro run --env sample --pipelines teacher,__default__`, as `--env best` is run: the
    teacher's epochs reach the run as teacher.*, the student's as training.*, the student is
    tagged with the teacher it learned from and evaluated beside it; `--pipelines teacher`
    with runtime.resume continues that run from the teacher's own checkpoint."""
    project = copy_trained_data(trained_project, tmp_path / "project")  # its arrays
    monkeypatch.chdir(project)
    params = {"training.distill.teacher": TEACHER_FILE, "training.epochs": 1}
    run_session(project, env="sample", pipeline=["teacher", "__default__"], params=params)

    teacher = TorchModelDataset(str(project / TEACHER_FILE)).load()
    assert teacher.classes == tuple(CLASSES) and teacher.best_epoch == 1
    history = project / "data/sample/08_reporting/teacher_training_history.json"
    assert [record["epoch"] for record in json.loads(history.read_text())] == [1]
    checkpoints = project / "data/sample/06_models/checkpoints"
    assert (checkpoints / "teacher.pt").is_file() and (checkpoints / "last.pt").is_file()
    client = mlflow.MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("eurosat-sample").experiment_id
    (run,) = client.search_runs([experiment])
    assert {"teacher.val_accuracy", "training.val_accuracy"} <= set(run.data.metrics)
    assert run.data.tags["distill.teacher_sha256"] == weights_sha256(teacher.state_dict)
    comparison = project / "data/sample/08_reporting/teacher_comparison.json"
    comparison = json.loads(comparison.read_text())
    assert comparison["teacher"]["sha256"] == weights_sha256(teacher.state_dict)
    assert list(comparison["models"]) == ["teacher_tta", "teacher_one_pass", "student"]
    versus = comparison["pairs"]["teacher_tta vs student"]
    assert run.data.metrics["teacher.student_p_value"] == versus["p_value"]
    accuracy = comparison["models"]["student"]["accuracy"]
    assert run.data.metrics["test.accuracy"] == pytest.approx(accuracy)

    os.environ.pop("MLFLOW_RUN_ID", None)
    run_session(
        project, env="sample", pipeline="teacher", params={**params, "runtime.resume": True}
    )
    (resumed,) = client.search_runs([experiment])
    assert resumed.info.run_id == run.info.run_id and resumed.info.status == "FINISHED"
    again = TorchModelDataset(str(project / TEACHER_FILE)).load()
    assert weights_sha256(again.state_dict) == weights_sha256(teacher.state_dict)
