"""Wiring of the teacher pipeline (docs/distillation.md): its output, ``teacher_model``, is
the student's input in the training pipeline, so `kedro run --pipelines teacher,training`
trains both in order."""

from kedro.pipeline import Node, Pipeline

from eurosat_kedro.pipelines.training.nodes import train_teacher


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                train_teacher,
                [
                    "train_arrays",
                    "val_arrays",
                    "classes",
                    "params:model",
                    "params:training",
                    "params:runtime",
                ],
                ["teacher_model", "teacher_training_history"],
                name="train_teacher",
            ),
        ],
        tags="teacher",
    )
