"""Map a whole scene: classify its 64x64 windows into a georeferenced land-use map."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
