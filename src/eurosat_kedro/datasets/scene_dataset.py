"""A scene to map, checked from its headers; its pixels are read later, a window at a time."""

from __future__ import annotations

from typing import Any

from kedro.io import AbstractDataset, DatasetError

from eurosat_kedro.mapping import Scene, open_scene


class SceneDataset(AbstractDataset[Any, Scene]):
    """Load a ``eurosat_kedro.mapping.Scene``: a 3-band raster, or ``bands`` (indexes of the
    file, or Sentinel-2 band names such as ``"B04 B03 B02"`` whose files lie next to each
    other). Loading reads headers only, so a scene of any size loads at once. Read-only."""

    def __init__(
        self, filepath: str | None = None, bands: Any = None, metadata: dict[str, Any] | None = None
    ):
        self._filepath = filepath or None
        self._bands = bands
        self.metadata = metadata

    def load(self) -> Scene:
        return open_scene(self._filepath, self._bands)

    def save(self, data: Any) -> None:
        raise DatasetError(f"{self._filepath} is a scene to read; nothing writes it")

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "bands": self._bands}
