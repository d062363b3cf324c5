"""A trained model as a torch file: its weights, how to rebuild it, and its class names."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from kedro.io import AbstractDataset, DatasetError


class TorchModelDataset(AbstractDataset[dict, dict]):
    """Save ``{"state_dict", "spec", "classes", ...}`` with ``torch.save``; load it back with
    ``weights_only=True``, so loading never runs code from the file."""

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None):
        self._filepath = Path(filepath)
        self.metadata = metadata

    def load(self) -> dict:
        if not self._filepath.is_file():
            raise DatasetError(
                f"{self._filepath} does not exist: run `kedro run --pipeline training` first."
            )
        return torch.load(self._filepath, map_location="cpu", weights_only=True)

    def save(self, data: dict) -> None:
        self._filepath.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._filepath.with_name(self._filepath.name + ".tmp")
        torch.save(data, tmp)
        os.replace(tmp, self._filepath)

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
