"""The picture of a land-use map: the scene's RGB preview beside the coloured classes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from .grid import NON_CLASS_VALUES, GeoGrid  # noqa: E402

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
NON_CLASS_COLOURS = {"masked": (255, 255, 255), "uncertain": (0, 0, 0)}


def class_colours(classes: list[str]) -> dict[int, tuple[int, int, int, int]]:
    """``{map value: RGBA 0-255}`` for the classes, masked (white) and uncertain (black), as
    a GeoTIFF colour table takes it."""
    tab20 = plt.get_cmap("tab20")
    out = {}
    for i, name in enumerate(classes):
        rgb = CLASS_COLOURS.get(name) or tuple(int(255 * v) for v in tab20(i % 20)[:3])
        out[i] = (*rgb, 255)
    for name, value in NON_CLASS_VALUES.items():
        out[value] = (*NON_CLASS_COLOURS[name], 255)
    return out


def _extent(transform, width: int, height: int) -> list[float]:
    left, top = transform @ (0, 0)
    right, bottom = transform @ (width, height)
    return [left, right, bottom, top]


def _figure_size(width: int, height: int) -> tuple[float, float]:
    """Two panels shaped like the scene (6 inches on the longer side) and the legend."""
    aspect = min(max(width / height, 0.25), 4.0)
    panel_w, panel_h = (6.0, 6.0 / aspect) if aspect >= 1 else (6.0 * aspect, 6.0)
    return 2 * panel_w + 3.0, panel_h + 1.0


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
    lut = np.zeros((256, 4))  # map value -> RGBA; nodata stays transparent
    for value, rgba in colours.items():
        lut[value] = np.array(rgba) / 255
    fig, (left, right) = plt.subplots(1, 2, figsize=_figure_size(*scene_size))
    left.imshow(preview, extent=_extent(scene_transform, *scene_size), interpolation="nearest")
    left.set_title("scene (RGB as the model sees it)")
    height, width = class_map.values.shape
    right.set_facecolor((0.9, 0.9, 0.9))  # nodata
    right.imshow(
        lut[class_map.values],
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
    handles += [
        Patch(facecolor=np.array(NON_CLASS_COLOURS[name]) / 255, edgecolor="grey", label=name)
        for name, value in NON_CLASS_VALUES.items()
        if (class_map.values == value).any()
    ]
    right.legend(
        handles=handles, loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8, frameon=False
    )
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
