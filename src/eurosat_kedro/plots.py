"""Matplotlib figures for the reports; each function returns a Figure and writes nothing."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def curves_figure(x: list, series: dict[str, list[float]], title: str, ylabel: str):
    """One line per series over epochs."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, values in series.items():
        ax.plot(x, values, marker="o", markersize=3, label=label)
    ax.set(title=title, xlabel="epoch", ylabel=ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def confusion_matrix_figure(matrix: np.ndarray, classes: list[str]):
    """Row-normalised confusion matrix (recall per true class), drawn by scikit-learn."""
    from sklearn.metrics import ConfusionMatrixDisplay

    totals = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(
        matrix, totals, out=np.zeros(matrix.shape, dtype=float), where=totals > 0
    )
    fig, ax = plt.subplots(figsize=(8, 7))
    display = ConfusionMatrixDisplay(normalised, display_labels=classes)
    display.plot(
        ax=ax,
        cmap="Blues",
        values_format=".2f",
        xticks_rotation=45,
        im_kw={"vmin": 0, "vmax": 1},
        text_kw={"fontsize": 7},
    )
    ax.set(
        xlabel="predicted class",
        ylabel="true class",
        title="Confusion matrix (test split, normalised by true class)",
    )
    fig.tight_layout()
    return fig


def image_grid_figure(images: np.ndarray, titles: list[str], title: str, columns: int = 6):
    """Images in a grid with a small title each; says so when there is nothing to show."""
    rows = max(1, int(np.ceil(len(images) / columns)))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.8, rows * 2.1), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, image, label in zip(axes.ravel(), images, titles, strict=False):
        ax.imshow(image)
        ax.set_title(label, fontsize=7)
    if len(images) == 0:
        axes[0, 0].text(0, 0.5, "no misclassified images", fontsize=10)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
