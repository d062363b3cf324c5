"""Project pipelines."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline


def register_pipelines() -> dict[str, Pipeline]:
    """Every pipeline by name; ``__default__`` runs all but ``inference``, ``mapping``,
    ``mapping_many``, ``batch_inference`` and ``landuse_change`` (which need
    ``inference.image_path``, ``mapping.scene``, ``mapping.scenes``, ``batch_inference.input``
    and ``change.before`` / ``change.after``)."""
    pipelines = find_pipelines(raise_errors=True)
    pipelines["__default__"] = sum(
        p
        for name, p in pipelines.items()
        if name not in ("inference", "mapping", "mapping_many", "batch_inference", "landuse_change")
    )
    return pipelines
