"""An ONNX model as one self-contained ``.onnx`` file."""

from __future__ import annotations

import onnx

from eurosat_kedro.files import atomic_path

from .file_dataset import FileDataset


class OnnxModelDataset(FileDataset[onnx.ModelProto, onnx.ModelProto]):
    """Save/load an ``onnx.ModelProto``; weights stay inside the file (no external data)."""

    def load(self) -> onnx.ModelProto:
        return onnx.load(str(self._require("run the deployment pipeline")))

    def save(self, data: onnx.ModelProto) -> None:
        with atomic_path(self._get_save_path()) as tmp:
            onnx.save(data, str(tmp), save_as_external_data=False)
