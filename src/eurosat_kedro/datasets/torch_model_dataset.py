"""A trained model as a torch file: its weights, how to rebuild it, and its class names."""

from __future__ import annotations

from typing import Any

import torch
from kedro.io import DatasetError, Version

from eurosat_kedro.files import atomic_path
from eurosat_kedro.models import TrainedModel

from .file_dataset import FileDataset


class TorchModelDataset(FileDataset[TrainedModel, TrainedModel | None]):
    """Save a ``TrainedModel`` with ``torch.save`` (plain tensors and values); load it back
    with ``weights_only=True``, so loading never runs code from the file.

    ``parameter`` names the run parameter that chooses ``filepath`` (e.g.
    ``training.distill.teacher`` for the teacher of a distillation): a missing file is then an
    error saying to train that model first and point the parameter at it. With ``filepath``
    null there is no model: ``load`` gives None (an input a node may go without, such as the
    teacher while ``training.distill.teacher`` is null).
    """

    def __init__(
        self,
        filepath: str | None,
        parameter: str | None = None,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        self._parameter = parameter
        self._no_model = filepath is None
        super().__init__("" if filepath is None else filepath, version, metadata)

    def load(self) -> TrainedModel | None:
        if self._no_model:
            return None
        path = self._require(self._how_to_make())
        data = torch.load(path, map_location="cpu", weights_only=True)
        return TrainedModel.from_dict(data, str(path))

    def save(self, data: TrainedModel) -> None:
        self.check_destination()
        with atomic_path(self._get_save_path()) as tmp:
            torch.save(data.to_dict(), tmp)

    def check_destination(self) -> None:
        """A DatasetError, before any work, when there is no file to save a model to."""
        if not self._no_model:
            return
        if self._parameter is None:
            raise DatasetError("filepath is null: nowhere to save a model")
        raise DatasetError(
            f"the catalog has no file for this model: {self._parameter} is null where the "
            "catalog reads it. Name the file in globals.yml (distill_teacher) or with "
            f'--params "{self._parameter}=PATH"; a parameters file alone does not reach the '
            "catalog"
        )

    def _how_to_make(self) -> str:
        if self._parameter is None:
            return "run `kedro run --pipelines training` first."
        return (
            f"{self._parameter} names it. Train that model first: the teacher pipeline trains "
            "it there, in the same environment (`kedro run --env <this env> --pipelines "
            "data_processing,teacher`), or "
            f"point {self._parameter} at a trained model.pt: "
            f'--params "{self._parameter}=PATH"'
        )

    def _exists(self) -> bool:
        return not self._no_model and super()._exists()

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "filepath": None} if self._no_model else super()._describe()
