"""Compare two dates: the land-use change between two maps (or two scenes mapped on the way)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
