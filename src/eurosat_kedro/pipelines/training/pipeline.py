"""Wiring of the training pipeline."""

from kedro.pipeline import Node, Pipeline

from .nodes import log_training_data, train_model


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                train_model,
                [
                    "train_arrays",
                    "val_arrays",
                    "classes",
                    "teacher_model",
                    "params:model",
                    "params:training",
                    "params:runtime",
                ],
                ["trained_model", "training_history"],
                name="train_model",
            ),
            Node(
                log_training_data,
                ["train_arrays", "val_arrays", "data_report"],
                None,
                name="log_training_data",
            ),
        ],
        tags="training",
    )
