"""The folder that holds one folder of maps per product (``<filepath>/<product id>/``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from eurosat_kedro.mapping.products import MapFolders


class MapFoldersDataset(AbstractDataset[Any, MapFolders]):
    """Load ``MapFolders``: where each product's maps go, an absolute path, so the Spark tasks
    that write them (``mapping_many``'s map_products, on the executors, each product's folder
    in one rename) write where the catalog says. Read-only: the tasks write, not Kedro."""

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None):
        self._filepath = filepath
        self.metadata = metadata

    def load(self) -> MapFolders:
        return MapFolders(str(Path(self._filepath).expanduser().resolve()))

    def save(self, data: Any) -> None:
        raise DatasetError(f"{self._filepath}: the mapping tasks write the product folders")

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath}
