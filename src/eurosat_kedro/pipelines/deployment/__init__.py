"""Export the best model to ONNX, check it against PyTorch, package it as an MLflow model."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
