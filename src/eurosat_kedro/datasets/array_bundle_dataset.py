"""A dict of NumPy arrays stored as one uncompressed ``.npz`` file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from kedro.io import AbstractDataset, DatasetError


class ArrayBundleDataset(AbstractDataset[dict, dict]):
    """Save and load ``{"images": uint8 array, "labels": int array, ...}`` as ``.npz``.

    Uncompressed, so loading 18,000 64x64 RGB images takes a fraction of a second; written
    through a temporary file so a crash never leaves half an array behind.
    """

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None):
        self._filepath = Path(filepath)
        self.metadata = metadata

    def load(self) -> dict[str, np.ndarray]:
        if not self._filepath.is_file():
            raise DatasetError(
                f"{self._filepath} does not exist: run `kedro run --pipeline data_processing`."
            )
        with np.load(self._filepath, allow_pickle=False) as bundle:
            return {key: bundle[key] for key in bundle.files}

    def save(self, data: dict[str, np.ndarray]) -> None:
        self._filepath.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._filepath.with_name(self._filepath.name + ".tmp.npz")
        np.savez(tmp, **data)
        os.replace(tmp, self._filepath)

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
