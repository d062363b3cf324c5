"""Project hooks: the MLflow store a run uses, and runs closed when a pipeline ends."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
import pytest
from kedro.io import DatasetError

from eurosat_kedro.hooks import artifact_location, checkpoint_to_continue, tracking_uri
from tests.conftest import run_session


def test_the_store_is_the_projects_unless_the_user_sets_one(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking_uri("/p/one") == "sqlite:////p/one/mlflow.db"
    assert artifact_location("/p/one") == "/p/one/mlruns"
    # mlflow.set_tracking_uri copies the first project's store into the variable: an echo,
    # not the user's choice, so a second project in the same process keeps its own store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////p/one/mlflow.db")
    assert tracking_uri("/p/two") == "sqlite:////p/two/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert tracking_uri("/p/two") == "http://127.0.0.1:5000"
    assert artifact_location("/p/two") is None  # the server decides (artifact proxying)


def test_a_pipeline_leaves_no_mlflow_run_open_but_the_users(trained_copy: Path):
    run_session(trained_copy, env="sample", pipeline="evaluation")
    assert mlflow.active_run() is None
    mlflow.set_tracking_uri(f"sqlite:///{trained_copy / 'mlflow.db'}")
    with mlflow.start_run() as mine:
        run_session(trained_copy, env="sample", pipeline="evaluation")
        assert mlflow.active_run().info.run_id == mine.info.run_id
        assert mlflow.get_run(mine.info.run_id).info.status == "RUNNING"  # still the user's
    assert mlflow.active_run() is None  # kedro-mlflow's reopenings of it did not stay behind


def test_the_private_mlflow_run_stack_is_still_there(mlflow_experiment: str):
    """CloseMlflowRuns reads MLflow's private stack of active runs (the one private API the
    hooks use): an MLflow upgrade that moves it must fail here, not silently leave runs open."""
    from eurosat_kedro.hooks import _active_run_stack

    assert _active_run_stack() == []
    with mlflow.start_run(experiment_id=mlflow_experiment) as run:
        assert [r.info.run_id for r in _active_run_stack()] == [run.info.run_id]


def test_a_missing_run_stack_fails_loudly(monkeypatch: pytest.MonkeyPatch):
    from mlflow.tracking import fluent

    from eurosat_kedro.hooks import _active_run_stack

    monkeypatch.delattr(fluent, "_active_run_stack")
    with pytest.raises(RuntimeError, match="_active_run_stack is gone"):
        _active_run_stack()


def test_an_existing_experiment_is_marked_as_model_development(
    project: Path, monkeypatch: pytest.MonkeyPatch
):
    """mlflow.yml tags the experiment when kedro-mlflow creates it; one that exists already
    gets the tag from MlflowHook, so the MLflow UI opens its model-training view."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # another test's store's echo
    client = mlflow.MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.create_experiment("eurosat-sample", (project / "mlruns").as_uri())
    bootstrap_project(project)
    with KedroSession.create(project_path=project, env="sample") as session:
        session.load_context()
    tags = client.get_experiment(experiment).tags
    assert tags["mlflow.experimentKind"] == "custom_model_development"


def test_kedro_mlflow_runs_once_through_the_projects_hook():
    """settings.py registers kedro-mlflow's hook as eurosat_kedro.hooks.MlflowHook and turns
    the plugin's own off: two would open two runs per pipeline."""
    from eurosat_kedro import settings
    from eurosat_kedro.hooks import MlflowHook

    assert sum(isinstance(hook, MlflowHook) for hook in settings.HOOKS) == 1
    assert "kedro_mlflow" in settings.DISABLE_HOOKS_FOR_PLUGINS


def test_a_resumed_run_continues_the_checkpoint_it_wrote_last(tmp_path: Path):
    """Teacher and student in one run: the checkpoint written last is the training the run
    was in when it stopped; an older one (an earlier student's) is not preferred to it."""
    runtime = {
        "checkpoint_path": str(tmp_path / "student.pt"),
        "teacher_checkpoint_path": str(tmp_path / "teacher.pt"),
    }
    both = ["train_teacher", "train_model"]
    assert checkpoint_to_continue(both, runtime) is None  # nothing written yet
    (tmp_path / "teacher.pt").write_bytes(b"teacher")
    assert checkpoint_to_continue(both, runtime) == runtime["teacher_checkpoint_path"]
    assert checkpoint_to_continue(["train_model"], runtime) is None  # not the student's
    (tmp_path / "student.pt").write_bytes(b"student")
    os.utime(tmp_path / "student.pt", ns=(1, 1))  # an earlier run's student
    assert checkpoint_to_continue(both, runtime) == runtime["teacher_checkpoint_path"]
    os.utime(tmp_path / "student.pt")  # the student of this run, after its teacher
    assert checkpoint_to_continue(both, runtime) == runtime["checkpoint_path"]
    assert checkpoint_to_continue(["train_teacher"], runtime) == runtime["teacher_checkpoint_path"]


def test_a_teacher_the_catalog_cannot_save_is_refused_before_training_and_tracking(
    trained_copy: Path,
):
    """A teacher named in a parameters file only: the parameter is set, the catalog (which
    reads globals and --params, not parameters) has no file to write the teacher to."""
    (trained_copy / "conf" / "sample" / "parameters_teacher.yml").write_text(
        "training:\n  distill:\n    teacher: data/sample/06_models/teacher.pt\n"
    )
    client = mlflow.MlflowClient(f"sqlite:///{trained_copy / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("eurosat-sample").experiment_id
    runs_before = len(client.search_runs([experiment]))
    with pytest.raises(DatasetError, match="the catalog has no file for this model") as error:
        run_session(trained_copy, env="sample", pipeline="teacher")
    assert 'globals.yml (distill_teacher) or with --params "training.distill.teacher=PATH"' in (
        str(error.value)
    )
    assert len(client.search_runs([experiment])) == runs_before  # no run was opened
    assert not (trained_copy / "data/sample/06_models/checkpoints/teacher.pt").exists()
