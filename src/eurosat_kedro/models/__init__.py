"""Model architectures and the factory that builds them from parameters."""

from .factory import MODEL_NAMES, build_model, load_trained_model

__all__ = ["MODEL_NAMES", "build_model", "load_trained_model"]
