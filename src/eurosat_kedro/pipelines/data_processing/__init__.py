"""Download, extract, index and split the EuroSAT RGB images; cache them as arrays."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
