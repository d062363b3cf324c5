"""The products a run maps, listed from ``mapping.scenes``; nothing is opened yet."""

from __future__ import annotations

from typing import Any

from kedro.io import AbstractDataset, DatasetError

from eurosat_kedro.mapping.products import ProductListError, ProductRef, list_products


class ProductListDataset(AbstractDataset[Any, list[ProductRef]]):
    """Load the ``ProductRef`` of every product of ``scenes``: paths or globs (a list, or one
    string separated by spaces), a ``.txt`` file of them (one a line), a STAC ItemCollection
    JSON (each item; ``search.json#ITEM_ID``), or a folder of STAC item JSONs; each read with
    ``bands`` (as ``mapping.bands``). A product that does not exist or cannot be opened is
    reported when it is mapped; a glob that matches nothing is an error here. Read-only."""

    def __init__(self, scenes: Any = None, bands: Any = None, metadata: dict | None = None):
        self._scenes = scenes
        self._bands = bands
        self.metadata = metadata

    def load(self) -> list[ProductRef]:
        try:
            return list_products(self._scenes, self._bands)
        except ProductListError as error:
            raise DatasetError(str(error)) from error

    def save(self, data: Any) -> None:
        raise DatasetError("mapping.scenes names products to read; nothing writes them")

    def _describe(self) -> dict[str, Any]:
        return {"scenes": self._scenes, "bands": self._bands}
