"""A single-band Cloud-Optimized GeoTIFF (a land-use map, a confidence map), written
atomically."""

from __future__ import annotations

import json

import rasterio
from rasterio.io import MemoryFile
from rasterio.shutil import copy

from eurosat_kedro.files import atomic_path
from eurosat_kedro.mapping.grid import GeoGrid

from .file_dataset import FileDataset

COG_BLOCK_SIZE = 256  # pixels a side of each internal tile


class GeoTiffDataset(FileDataset[GeoGrid, GeoGrid]):
    """Save/load a ``GeoGrid`` as a Cloud-Optimized GeoTIFF (what web maps and QGIS read over
    HTTP): values, CRS, transform and nodata; class names in the band description and the
    ``classes`` tag (JSON), a colour table when given. Written to a temporary file in the same
    folder, then moved into place: never half-written."""

    def save(self, data: GeoGrid) -> None:
        height, width = data.values.shape
        tags = dict(data.tags)
        if data.classes is not None:
            tags["classes"] = json.dumps(data.classes)
        profile = {
            "driver": "GTiff",
            "width": width,
            "height": height,
            "count": 1,
            "dtype": data.values.dtype.name,
            "crs": data.crs,
            "transform": data.transform,
            "nodata": data.nodata,
        }
        with MemoryFile() as memory, memory.open(**profile) as staged:
            staged.write(data.values, 1)
            staged.update_tags(**tags)
            if data.classes is not None:
                staged.update_tags(1, **{str(i): name for i, name in enumerate(data.classes)})
            staged.set_band_description(1, data.description)
            if data.colormap:
                staged.write_colormap(1, data.colormap)
            with atomic_path(self._get_save_path()) as tmp:
                # GDAL's COG driver: tiled, deflate, internal overviews (the most frequent
                # value for class and change maps: those with classes or a colour table;
                # the mean for others)
                categorical = data.classes is not None or bool(data.colormap)
                copy(
                    staged,
                    str(tmp),
                    driver="COG",
                    COMPRESS="DEFLATE",
                    BLOCKSIZE=COG_BLOCK_SIZE,
                    OVERVIEW_RESAMPLING="MODE" if categorical else "AVERAGE",
                )

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
