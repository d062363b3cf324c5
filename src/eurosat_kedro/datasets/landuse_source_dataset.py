"""One date of a land-use change: a land-use map the mapping pipeline wrote, or a scene to map."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import rasterio
from kedro.io import AbstractDataset, DatasetError
from rasterio.errors import RasterioIOError

from eurosat_kedro.mapping import Scene, SceneError, open_scene
from eurosat_kedro.mapping.change import ChangeError, LandUseMap

from .geotiff_dataset import GeoTiffDataset


def _tags(path: Path) -> dict[str, str] | None:
    """The dataset tags of a one-band raster; None for anything else."""
    if not path.is_file():
        return None
    try:
        with rasterio.open(path) as src:
            return src.tags() if src.count == 1 else None
    except RasterioIOError:
        return None


def confidence_beside(map_path: Path) -> Path:
    """Where the mapping pipeline wrote the confidence map of ``map_path``:
    ``landuse_confidence.tif`` beside ``landuse_map.tif`` (a renamed ``X_landuse_map.tif``
    pairs with ``X_landuse_confidence.tif``)."""
    if "landuse_map" in map_path.name:
        return map_path.with_name(map_path.name.replace("landuse_map", "landuse_confidence"))
    return map_path.with_name("landuse_confidence.tif")


class LandUseSourceDataset(AbstractDataset[Any, LandUseMap | Scene]):
    """Load one date of a land-use change from ``filepath``:

    - a land-use map of the mapping pipeline (a one-band GeoTIFF with a ``classes`` tag) as a
      ``LandUseMap``, with its confidence map ``confidence``, by default the
      ``landuse_confidence.tif`` beside it;
    - anything else as a ``Scene`` to map, as ``mapping.scene`` takes it (``bands`` as
      ``mapping.bands``); loading a scene reads its headers only.

    ``parameter`` names the run parameter that sets ``filepath`` in messages. Read-only.
    """

    def __init__(
        self,
        filepath: str | None = None,
        confidence: str | None = None,
        bands: Any = None,
        parameter: str = "change.before",
        metadata: dict[str, Any] | None = None,
    ):
        self._filepath = filepath or None
        self._confidence = confidence or None
        self._bands = bands
        self._parameter = parameter
        self.metadata = metadata

    def load(self) -> LandUseMap | Scene:
        if not self._filepath:
            raise DatasetError(
                f"{self._parameter} is not set: give the two dates to compare, kedro run "
                '--pipelines landuse_change --params "change.before=A,change.after=B" (each a '
                "landuse_map.tif of the mapping pipeline or a scene to map)"
            )
        path = Path(self._filepath).expanduser()
        if not path.exists():
            raise DatasetError(f"{self._parameter} {str(path)!r}: no such file or folder")
        tags = _tags(path)
        if tags is not None and "codes" in tags:
            raise DatasetError(
                f"{self._parameter} {path} is a land-use change map: give a land-use map "
                "(landuse_map.tif of the mapping pipeline) or a scene"
            )
        if tags is not None and "classes" in tags:
            return self._map(path)
        try:
            return open_scene(path, self._bands)
        except SceneError as error:
            raise DatasetError(
                f"{self._parameter} {path} is neither a land-use map of the mapping pipeline "
                f"(a one-band GeoTIFF with a classes tag) nor a scene to map: {error}"
            ) from error

    def _map(self, path: Path) -> LandUseMap:
        confidence = Path(self._confidence).expanduser() if self._confidence else None
        confidence = confidence or confidence_beside(path)
        if not confidence.is_file():
            raise DatasetError(
                f"{self._parameter} {path} is a land-use map, but its confidence map "
                f"{confidence} does not exist: give the landuse_confidence.tif the mapping "
                f'pipeline wrote with it, --params "{self._parameter}_confidence=PATH"'
            )
        class_map = GeoTiffDataset(str(path)).load()
        try:
            return LandUseMap(class_map, GeoTiffDataset(str(confidence)).load(), str(path))
        except ChangeError as error:
            raise DatasetError(str(error)) from error

    def save(self, data: Any) -> None:
        raise DatasetError(f"{self._filepath} is a date to compare; nothing writes it")

    def _describe(self) -> dict[str, Any]:
        return {
            "filepath": self._filepath,
            "confidence": self._confidence,
            "bands": self._bands,
            "parameter": self._parameter,
        }
