"""A trained model as a torch file: its weights, how to rebuild it, and its class names."""

from __future__ import annotations

import torch

from eurosat_kedro.files import atomic_path
from eurosat_kedro.models import TrainedModel

from .file_dataset import FileDataset


class TorchModelDataset(FileDataset[TrainedModel, TrainedModel]):
    """Save a ``TrainedModel`` with ``torch.save`` (plain tensors and values); load it back
    with ``weights_only=True``, so loading never runs code from the file."""

    def load(self) -> TrainedModel:
        path = self._require("run `kedro run --pipelines training` first.")
        data = torch.load(path, map_location="cpu", weights_only=True)
        return TrainedModel.from_dict(data, str(path))

    def save(self, data: TrainedModel) -> None:
        with atomic_path(self._get_save_path()) as tmp:
            torch.save(data.to_dict(), tmp)
