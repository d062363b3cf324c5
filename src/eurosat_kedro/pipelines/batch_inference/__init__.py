"""Score a folder of images on Spark with the served MLflow model."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
