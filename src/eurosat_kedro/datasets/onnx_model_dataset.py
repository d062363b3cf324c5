"""An ONNX model as one self-contained ``.onnx`` file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import onnx
from kedro.io import AbstractDataset, DatasetError


class OnnxModelDataset(AbstractDataset[onnx.ModelProto, onnx.ModelProto]):
    """Save/load an ``onnx.ModelProto``; weights stay inside the file (no external data)."""

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None):
        self._filepath = Path(filepath)
        self.metadata = metadata

    def load(self) -> onnx.ModelProto:
        if not self._filepath.is_file():
            raise DatasetError(f"{self._filepath} does not exist: run the deployment pipeline")
        return onnx.load(str(self._filepath))

    def save(self, data: onnx.ModelProto) -> None:
        self._filepath.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._filepath.with_name(self._filepath.name + ".tmp")
        onnx.save(data, str(tmp), save_as_external_data=False)
        os.replace(tmp, self._filepath)

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
