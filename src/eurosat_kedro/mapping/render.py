"""The picture of a land-use map: the scene's RGB preview beside the coloured classes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from .grid import GeoGrid  # noqa: E402

# One colour per EuroSAT class; other class names get tab20's colours
CLASS_COLOURS = {
    "AnnualCrop": (230, 200, 70),
    "Forest": (30, 110, 40),
    "HerbaceousVegetation": (150, 200, 90),
    "Highway": (120, 120, 120),
    "Industrial": (190, 60, 170),
    "Pasture": (190, 230, 120),
    "PermanentCrop": (240, 140, 40),
    "Residential": (220, 40, 40),
    "River": (60, 140, 230),
    "SeaLake": (20, 40, 150),
}


def class_colours(classes: list[str]) -> dict[int, tuple[int, int, int, int]]:
    """``{class id: RGBA 0-255}``, as a GeoTIFF colour table takes it."""
    tab20 = plt.get_cmap("tab20")
    out = {}
    for i, name in enumerate(classes):
        rgb = CLASS_COLOURS.get(name) or tuple(int(255 * v) for v in tab20(i % 20)[:3])
        out[i] = (*rgb, 255)
    return out


def _extent(transform, width: int, height: int) -> list[float]:
    left, top = transform @ (0, 0)
    right, bottom = transform @ (width, height)
    return [left, right, bottom, top]


def map_figure(
    preview: np.ndarray,
    scene_transform,
    scene_size: tuple[int, int],
    class_map: GeoGrid,
    shares: dict[str, float],
    title: str,
):
    """``preview``: uint8 ``(h, w, 3)`` of the whole scene; ``scene_size``: (width, height)."""
    classes = class_map.classes
    colours = class_colours(classes)
    cmap = ListedColormap([np.array(colours[i][:3]) / 255 for i in range(len(classes))])
    shown = np.ma.masked_equal(class_map.values, class_map.nodata)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 5))
    left.imshow(preview, extent=_extent(scene_transform, *scene_size), interpolation="nearest")
    left.set_title("scene (RGB as the model sees it)")
    height, width = class_map.values.shape
    right.imshow(
        shown,
        cmap=cmap,
        vmin=-0.5,
        vmax=len(classes) - 0.5,
        interpolation="nearest",
        extent=_extent(class_map.transform, width, height),
    )
    right.set_xlim(left.get_xlim())
    right.set_ylim(left.get_ylim())
    right.set_title("land-use map (one pixel per window)")
    for ax in (left, right):
        ax.tick_params(labelsize=7)
    handles = [
        Patch(
            color=np.array(colours[i][:3]) / 255, label=f"{name} {100 * shares.get(name, 0):.1f}%"
        )
        for i, name in enumerate(classes)
    ]
    right.legend(
        handles=handles, loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8, frameon=False
    )
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
