"""Project hooks."""

from __future__ import annotations

from pathlib import Path

from kedro.framework.hooks import hook_impl
from omegaconf import OmegaConf


class ProjectPathResolver:
    """Register ``${project_path:}`` for the config files, before any plugin reads them.

    ``conf/base/mlflow.yml`` uses it so the MLflow sqlite store is always
    ``<project>/mlflow.db``, whatever the working directory (a notebook in ``notebooks/``,
    several projects in one process).
    """

    @hook_impl(tryfirst=True)
    def after_context_created(self, context) -> None:
        root = Path(context.project_path).resolve().as_posix()
        OmegaConf.register_new_resolver("project_path", lambda: root, replace=True)
