"""Project pipelines."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

ON_DEMAND = (
    "inference",
    "mapping",
    "mapping_many",
    "batch_inference",
    "landuse_change",
    "teacher",
)  # pipelines that run only when named: each needs parameters that have no default


def register_pipelines() -> dict[str, Pipeline]:
    """Every pipeline by name; ``__default__`` runs all but ``inference``, ``mapping``,
    ``mapping_many``, ``batch_inference`` and ``landuse_change`` (which need
    ``inference.image_path``, ``mapping.scene``, ``mapping.scenes``, ``batch_inference.input``
    and ``change.before`` / ``change.after``) and ``teacher`` (which needs
    ``training.distill.teacher``; `kedro run --pipelines teacher,__default__` adds it)."""
    pipelines = find_pipelines(raise_errors=True)
    pipelines["__default__"] = sum(p for name, p in pipelines.items() if name not in ON_DEMAND)
    return pipelines
