"""Project pipelines."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline


def register_pipelines() -> dict[str, Pipeline]:
    """Every pipeline by name; ``__default__`` runs all but ``inference``, ``mapping`` and
    ``batch_inference`` (which need ``inference.image_path``, ``mapping.scene`` and
    ``batch_inference.input``)."""
    pipelines = find_pipelines(raise_errors=True)
    pipelines["__default__"] = sum(
        p
        for name, p in pipelines.items()
        if name not in ("inference", "mapping", "batch_inference")
    )
    return pipelines
