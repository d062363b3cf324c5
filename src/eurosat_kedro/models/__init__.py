"""Model architectures, the spec and factory that build them, and PyTorch prediction."""

from .factory import MODEL_NAMES, ModelSpec, TrainedModel, build_model, load_trained_model
from .predict import predict_logits

__all__ = [
    "MODEL_NAMES",
    "ModelSpec",
    "TrainedModel",
    "build_model",
    "load_trained_model",
    "predict_logits",
]
