"""Evaluate the best model on the test split: metrics, confusion matrix and plots."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
