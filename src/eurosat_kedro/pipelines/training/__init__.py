"""Train simple_cnn or resnet18 on the cached arrays; keep the best-by-validation model."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
