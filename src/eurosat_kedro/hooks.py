"""Project hooks."""

from __future__ import annotations

import os
from pathlib import Path

import requests
from kedro.framework.hooks import hook_impl
from omegaconf import OmegaConf

# The project stores this module has resolved: ``mlflow.set_tracking_uri`` copies the URI
# it is given into MLFLOW_TRACKING_URI (for subprocesses), so in a process that opens several
# projects (a notebook, the tests) that variable may be an echo of an earlier project's store
# rather than the user's choice.
_PROJECT_STORES: set[str] = set()


def tracking_uri(project_root: str) -> str:
    """``MLFLOW_TRACKING_URI`` (MLflow's own convention) when the user set it, else
    ``<project>/mlflow.db``."""
    own = f"sqlite:///{project_root}/mlflow.db"
    _PROJECT_STORES.add(own)
    chosen = os.environ.get("MLFLOW_TRACKING_URI")
    return chosen if chosen and chosen not in _PROJECT_STORES else own


def artifact_location(project_root: str) -> str | None:
    """Where new experiments keep artifacts: ``<project>/mlruns`` beside a local store; the
    server's choice (artifact proxying) for a tracking server."""
    return (
        None
        if tracking_uri(project_root).startswith(("http://", "https://"))
        else f"{project_root}/mlruns"
    )


class ProjectPathResolver:
    """Register ``${project_path:}``, ``${mlflow_tracking_uri:}`` and
    ``${mlflow_artifact_location:}`` for the config files, before any plugin reads them, and
    check that a tracking server given by ``MLFLOW_TRACKING_URI`` answers.

    ``conf/base/mlflow.yml`` uses them so the MLflow store is ``MLFLOW_TRACKING_URI`` when set
    and otherwise always ``<project>/mlflow.db``, whatever the working directory (a notebook in
    ``notebooks/``, several projects in one process).
    """

    @hook_impl(tryfirst=True)
    def after_context_created(self, context) -> None:
        root = Path(context.project_path).resolve().as_posix()
        OmegaConf.register_new_resolver("project_path", lambda: root, replace=True)
        OmegaConf.register_new_resolver(
            "mlflow_tracking_uri", lambda: tracking_uri(root), replace=True
        )
        OmegaConf.register_new_resolver(
            "mlflow_artifact_location", lambda: artifact_location(root), replace=True
        )
        check_tracking_server(tracking_uri(root))  # before kedro-mlflow contacts it


def check_tracking_server(uri: str) -> None:
    """Fail in seconds, naming the URI, when an MLflow tracking server cannot be reached,
    instead of after MLflow's minutes of retries or in the middle of a long run."""
    if not uri.startswith(("http://", "https://")):
        return
    try:
        requests.get(f"{uri.rstrip('/')}/health", timeout=10).raise_for_status()
    except requests.RequestException as error:
        raise ConnectionError(
            f"The MLflow tracking server {uri} (MLFLOW_TRACKING_URI) cannot be reached "
            f"({error.__class__.__name__}: {error}). Start it (e.g. `mlflow server "
            "--backend-store-uri sqlite:///mlflow.db --host 127.0.0.1 --port 5000`), fix the "
            "URI, or unset MLFLOW_TRACKING_URI to track in the project's mlflow.db."
        ) from error


class CloseMlflowRuns:
    """End the MLflow run of a pipeline completely when the pipeline ends.

    kedro-mlflow reopens its run before every node (for threaded runners), which stacks the
    same run in MLflow's active-run stack, and closes it once at the end: in a process that
    runs several pipelines (``kedro jupyter``, ``session.run`` twice) the next run would log
    into the previous one. A run the user opened before the pipeline is left open.
    """

    def __init__(self):
        self._opened_before: bool = False

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self) -> None:
        import mlflow

        self._opened_before = mlflow.active_run() is not None

    @hook_impl(trylast=True)
    def after_pipeline_run(self) -> None:
        self._close("FINISHED")

    @hook_impl(trylast=True)
    def on_pipeline_error(self) -> None:
        self._close("FAILED")

    def _close(self, status: str) -> None:
        import mlflow

        while not self._opened_before and mlflow.active_run():
            mlflow.end_run(status)
