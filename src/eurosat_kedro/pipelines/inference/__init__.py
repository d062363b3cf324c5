"""Predict an image or a folder of images with the exported ONNX model."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
