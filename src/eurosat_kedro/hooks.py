"""Project hooks: the MLflow store and server check, kedro-mlflow's hook with the project's
rules (experiment kind, resumed runs), runs closed after a pipeline, and the Spark session."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
import requests
from kedro.framework.hooks import hook_impl
from kedro_mlflow.framework.hooks import MlflowHook as KedroMlflowHook
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


class ConfigResolvers:
    """Register ``${project_path:}``, ``${mlflow_tracking_uri:}`` and
    ``${mlflow_artifact_location:}`` for the config files, before any plugin reads them.

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


class TrackingServerCheck:
    """Fail the run at once when the tracking server given by ``MLFLOW_TRACKING_URI`` does
    not answer, before kedro-mlflow contacts it."""

    @hook_impl(tryfirst=True)
    def after_context_created(self, context) -> None:
        check_tracking_server(tracking_uri(Path(context.project_path).resolve().as_posix()))


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


def _active_run_stack() -> list:
    """MLflow's stack of active runs of this thread. Private to MLflow, and the one place
    this project reads it: MLflow has no public API to list the stacked runs, and
    kedro-mlflow re-opens its run before every node (Galileo-Galilei/kedro-mlflow#650), which
    stacks it. An MLflow upgrade that renames it fails here, loudly (tests/test_hooks.py)."""
    from mlflow.tracking import fluent

    stack = getattr(fluent, "_active_run_stack", None)
    if stack is None or not hasattr(stack, "get"):
        raise RuntimeError(
            "mlflow.tracking.fluent._active_run_stack is gone in this MLflow version "
            f"({__import__('mlflow').__version__}): CloseMlflowRuns cannot restore the active "
            "runs; update eurosat_kedro.hooks._active_run_stack"
        )
    return stack.get()


class CloseMlflowRuns:
    """Leave MLflow's active runs as they were before the pipeline.

    kedro-mlflow reopens its run before every node (for threaded runners), which stacks the
    same run in MLflow's active-run stack, and closes it once at the end: in a process that
    runs several pipelines (``kedro jupyter``, ``session.run`` twice) the next run would log
    into the previous one, or into a run the user had opened. Runs the pipeline opened are
    ended (FINISHED, or FAILED on error); extra entries of a run the user opened before are
    dropped from the stack without ending it.
    """

    def __init__(self):
        self._before: list[str] = []

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self) -> None:
        self._before = [run.info.run_id for run in _active_run_stack()]

    @hook_impl(trylast=True)
    def after_pipeline_run(self) -> None:
        self._restore("FINISHED")

    @hook_impl(trylast=True)
    def on_pipeline_error(self) -> None:
        self._restore("FAILED")

    def _restore(self, status: str) -> None:
        import mlflow

        stack = _active_run_stack()
        while len(stack) > len(self._before):
            if stack[-1].info.run_id in self._before:
                stack.pop()  # a duplicate of the user's run: keep it open
            else:
                mlflow.end_run(status)


class SparkHooks:
    """Start the Spark session of ``conf/<env>/spark.yml`` before a pipeline that has a node
    tagged ``spark`` (as Kedro's PySpark guide does, but lazily): other pipelines start no JVM.
    A missing Java fails the run here, before any node, saying what to install."""

    @hook_impl
    def after_context_created(self, context) -> None:
        from kedro.config import MissingConfigException

        from eurosat_kedro import spark

        try:
            spark.configure(dict(context.config_loader["spark"]))
        except MissingConfigException:  # no spark.yml in this project or environment
            spark.configure({})

    @hook_impl
    def before_pipeline_run(self, pipeline) -> None:
        from eurosat_kedro import spark

        if any(spark.SPARK_TAG in node.tags for node in pipeline.nodes):
            spark.get_spark()


class TeacherFileCheck:
    """Before a run that trains a distillation's teacher (the teacher pipeline): the
    catalog's ``teacher_model`` must name a file to write it to. A teacher named only in a
    parameters file (which the catalog cannot read) fails here, not after its training, and
    before an MLflow run is opened for it."""

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, pipeline, catalog) -> None:
        if "teacher_model" in pipeline.all_outputs():
            catalog["teacher_model"].check_destination()


class MlflowHook(KedroMlflowHook):
    """kedro-mlflow's hook, registered by ``settings.HOOKS`` instead of by the plugin (which
    ``DISABLE_HOOKS_FOR_PLUGINS`` turns off), with three rules of this project:

    - The experiment carries the tags ``mlflow.yml`` gives it at creation
      (``mlflow.experimentKind: custom_model_development``, so the MLflow UI opens its
      model-training view), an experiment that already exists too.
    - A training resumed from a checkpoint (``runtime.resume``) continues the MLflow run the
      checkpoint was written in, through kedro-mlflow's own ``tracking.run.id``, or says why
      it cannot (``training.mlflow_epochs.run_to_continue``).
    - On a continued run, a parameter whose value changed (``runtime.resume`` itself, or
      another runtime setting) is recorded as the tag ``resumed.<name>``: MLflow parameters
      cannot change once logged (mlflow/mlflow#4248), and kedro-mlflow logs every node's
      parameters with ``mlflow.log_param``, which would fail.
    """

    def __init__(self):
        super().__init__()
        self._logged_params: dict[str, str] = {}

    @hook_impl
    def after_context_created(self, context) -> None:
        super().after_context_created(context)
        if not self._already_active_mlflow:
            _tag_experiment(self.mlflow_config)

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        run = self.mlflow_config.tracking.run
        configured = run.id
        if configured is None and not self._already_active_mlflow:
            run.id = _run_to_continue(pipeline, catalog, self.mlflow_config)
        try:
            super().before_pipeline_run(run_params, pipeline, catalog)
        finally:
            run.id = configured  # a second session.run in this process starts afresh
        self._logged_params = {}
        if self._is_mlflow_enabled and self.run_id is not None:
            self._logged_params = mlflow.MlflowClient().get_run(self.run_id).data.params

    def _log_param(self, name: str, value) -> None:
        logged = self._logged_params.get(name)
        if logged is not None and logged != str(value):
            mlflow.set_tag(f"resumed.{name}", str(value))
            return None
        return super()._log_param(name, value)


def _tag_experiment(config) -> None:
    """Give the configured experiment the tags of ``create_experiment_kwargs`` it lacks."""
    wanted = config.tracking.experiment.create_experiment_kwargs.tags or {}
    client = mlflow.MlflowClient(config.server.mlflow_tracking_uri)
    experiment = client.get_experiment_by_name(config.tracking.experiment.name)
    for key, value in wanted.items():
        if experiment is not None and key not in experiment.tags:
            client.set_experiment_tag(experiment.experiment_id, key, str(value))


# the training nodes, each with the runtime parameter naming where it writes its checkpoints
CHECKPOINT_OF_NODE = {
    "train_model": "checkpoint_path",
    "train_teacher": "teacher_checkpoint_path",
}


def _run_to_continue(pipeline, catalog, config) -> str | None:
    """The run a pipeline that trains with ``runtime.resume`` continues, else None."""
    from eurosat_kedro.training.mlflow_epochs import run_to_continue

    trains = [node.name for node in pipeline.nodes if node.name in CHECKPOINT_OF_NODE]
    if not trains:
        return None
    runtime = catalog.load("params:runtime")
    if not runtime.get("resume"):
        return None
    experiment = mlflow.MlflowClient().get_experiment_by_name(config.tracking.experiment.name)
    return run_to_continue(
        checkpoint_to_continue(trains, runtime),
        mlflow.get_tracking_uri(),
        experiment.experiment_id,
    )


def checkpoint_to_continue(training_nodes: list[str], runtime: dict) -> str | None:
    """Of the checkpoints the run's training nodes write (``CHECKPOINT_OF_NODE``), the one
    written last: the training the run was in when it stopped (the teacher's while it trained,
    the student's once it has one). An older checkpoint of an earlier run is never preferred
    to it. None when none exists."""
    paths = [runtime.get(CHECKPOINT_OF_NODE[name]) for name in training_nodes]
    written = [Path(path) for path in paths if path and Path(path).is_file()]
    return str(max(written, key=lambda path: path.stat().st_mtime_ns)) if written else None
