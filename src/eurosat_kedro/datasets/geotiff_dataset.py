"""A single-band GeoTIFF (a land-use map, a confidence map), written atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import rasterio
from kedro.io import AbstractDataset, DatasetError

from eurosat_kedro.mapping.grid import GeoGrid


class GeoTiffDataset(AbstractDataset[GeoGrid, GeoGrid]):
    """Save/load a ``GeoGrid``: values, CRS, transform and nodata; class names in the band
    description and the ``classes`` tag (JSON), a colour table when given. Written to a
    temporary file in the same folder, then moved into place: never half-written."""

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None):
        self._filepath = Path(filepath)
        self.metadata = metadata

    def save(self, data: GeoGrid) -> None:
        self._filepath.parent.mkdir(parents=True, exist_ok=True)
        height, width = data.values.shape
        tmp = self._filepath.with_name(f".{self._filepath.name}.{os.getpid()}.tmp")
        tags = dict(data.tags)
        if data.classes is not None:
            tags["classes"] = json.dumps(data.classes)
        try:
            with rasterio.open(
                tmp,
                "w",
                driver="GTiff",
                width=width,
                height=height,
                count=1,
                dtype=data.values.dtype.name,
                crs=data.crs,
                transform=data.transform,
                nodata=data.nodata,
                compress="deflate",
            ) as dst:
                dst.write(data.values, 1)
                dst.update_tags(**tags)
                if data.classes is not None:
                    dst.update_tags(1, **{str(i): name for i, name in enumerate(data.classes)})
                dst.set_band_description(1, data.description)
                if data.colormap:
                    dst.write_colormap(1, data.colormap)
            os.replace(tmp, self._filepath)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def load(self) -> GeoGrid:
        if not self._filepath.is_file():
            raise DatasetError(f"{self._filepath} does not exist: run the mapping pipeline")
        with rasterio.open(self._filepath) as src:
            tags = src.tags()
            classes = json.loads(tags.pop("classes")) if "classes" in tags else None
            colormap = None
            if classes is not None:
                try:
                    colormap = {i: src.colormap(1)[i] for i in range(len(classes))}
                except ValueError:  # no colour table
                    colormap = None
            return GeoGrid(
                src.read(1),
                src.transform,
                src.crs,
                src.nodata,
                src.descriptions[0] or "",
                classes,
                colormap,
                tags,
            )

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
