"""A single-band GeoTIFF (a land-use map, a confidence map), written atomically."""

from __future__ import annotations

import json

import rasterio

from eurosat_kedro.files import atomic_path
from eurosat_kedro.mapping.grid import GeoGrid

from .file_dataset import FileDataset


class GeoTiffDataset(FileDataset[GeoGrid, GeoGrid]):
    """Save/load a ``GeoGrid``: values, CRS, transform and nodata; class names in the band
    description and the ``classes`` tag (JSON), a colour table when given. Written to a
    temporary file in the same folder, then moved into place: never half-written."""

    def save(self, data: GeoGrid) -> None:
        height, width = data.values.shape
        tags = dict(data.tags)
        if data.classes is not None:
            tags["classes"] = json.dumps(data.classes)
        with (
            atomic_path(self._filepath) as tmp,
            rasterio.open(
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
            ) as dst,
        ):
            dst.write(data.values, 1)
            dst.update_tags(**tags)
            if data.classes is not None:
                dst.update_tags(1, **{str(i): name for i, name in enumerate(data.classes)})
            dst.set_band_description(1, data.description)
            if data.colormap:
                dst.write_colormap(1, data.colormap)

    def load(self) -> GeoGrid:
        with rasterio.open(self._require("run the mapping pipeline")) as src:
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
