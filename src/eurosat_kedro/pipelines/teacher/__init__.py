"""Train the teacher of a distillation: the training recipe without its teacher, saved where
``training.distill.teacher`` points, for the student's training pipeline to learn from."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
