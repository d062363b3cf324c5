"""The pictures of a land-use map (the scene's RGB preview beside the coloured classes) and of
a land-use change (two maps and their transitions)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

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


def colour_lut(colours: dict[int, tuple[int, int, int, int]]) -> np.ndarray:
    """``(256, 4)`` RGBA 0-1 by map value, to colour a uint8 map as ``lut[values]``; values
    without a colour stay transparent (nodata)."""
    lut = np.zeros((256, 4))
    for value, rgba in colours.items():
        lut[value] = np.array(rgba) / 255
    return lut


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
    lut = colour_lut(colours)
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


def _outline(mask: np.ndarray, transform) -> np.ndarray:
    """The borders between the cells in ``mask`` and the others: ``(n, 2, 2)`` segments in
    map coordinates (so each changed area is outlined, whatever its shape)."""
    padded = np.pad(mask, 1)
    rows, cols = np.nonzero(padded[1:-1, 1:] != padded[1:-1, :-1])  # at the left of a cell
    across, across_end = (cols, rows), (cols, rows + 1)
    rows, cols = np.nonzero(padded[1:, 1:-1] != padded[:-1, 1:-1])  # at the top of a cell

    def to_map(*points):
        x, y = (np.concatenate(axis) for axis in zip(*points, strict=True))
        return np.column_stack(transform @ (x, y))

    return np.stack([to_map(across, (cols, rows)), to_map(across_end, (cols + 1, rows))], axis=1)


def change_figure(
    before: GeoGrid,
    after: GeoGrid,
    changed: np.ndarray,
    matrix: np.ndarray,
    labels: tuple[str, str],
    title: str,
):
    """The two maps (on one grid) side by side with the changed cells outlined, and the
    transition matrix (compared cells; before in rows, after in columns) as a heatmap."""
    classes = before.classes
    colours = class_colours(classes)
    lut = colour_lut(colours)
    height, width = before.values.shape
    maps_width, maps_height = _figure_size(width, height)
    fig, axes = plt.subplots(
        1,
        3,
        figsize=(maps_width + 4.0, max(maps_height, 5.0) + 0.5),
        gridspec_kw={"width_ratios": [1, 1, 1.1]},
    )
    extent = _extent(before.transform, width, height)
    segments = _outline(changed, before.transform)
    for ax, grid, label in zip(axes[:2], (before, after), labels, strict=True):
        ax.set_facecolor((0.9, 0.9, 0.9))  # nodata
        ax.imshow(lut[grid.values], interpolation="nearest", extent=extent)
        # above the axes' frame, so an outline along the map's edge shows too
        ax.add_collection(LineCollection(segments, colors="red", linewidths=2.0, zorder=3))
        ax.set_title(label, fontsize=9)
        ax.tick_params(labelsize=7)
    _transition_heatmap(axes[2], matrix, classes)
    present = {value for grid in (before, after) for value in np.unique(grid.values)}
    handles = [
        Patch(color=np.array(colours[i][:3]) / 255, label=name) for i, name in enumerate(classes)
    ]
    handles += [
        Patch(facecolor=np.array(NON_CLASS_COLOURS[name]) / 255, edgecolor="grey", label=name)
        for name, value in NON_CLASS_VALUES.items()
        if value in present
    ]
    handles.append(Line2D([], [], color="red", label=f"changed ({int(changed.sum())} cells)"))
    fig.legend(handles=handles, loc="lower center", ncol=7, fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def _transition_heatmap(ax, matrix: np.ndarray, classes: list[str]) -> None:
    shown = np.ma.masked_equal(matrix, 0)  # no cells: blank
    image = ax.imshow(shown, cmap="viridis", norm=LogNorm(vmin=1, vmax=max(1, matrix.max())))
    for (row, col), cells in np.ndenumerate(matrix):
        if cells:
            ink = "black" if image.norm(cells) > 0.6 else "white"  # on viridis' yellow / blue
            ax.text(col, row, str(cells), ha="center", va="center", fontsize=6, color=ink)
    ticks = np.arange(len(classes))
    ax.set_xticks(ticks, classes, rotation=90, fontsize=7)
    ax.set_yticks(ticks, classes, fontsize=7)
    ax.set_xlabel("after", fontsize=8)
    ax.set_ylabel("before", fontsize=8)
    ax.set_title("transitions (cells compared; diagonal: unchanged)", fontsize=9)
    bar = ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    bar.ax.tick_params(labelsize=7, which="both")
    counts = FuncFormatter(lambda value, _: f"{value:g}")  # 1, 2, 10, not 10^0
    bar.ax.yaxis.set_major_formatter(counts)
    bar.ax.yaxis.set_minor_formatter(counts)
