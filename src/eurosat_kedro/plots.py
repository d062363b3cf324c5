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


def reliability_figure(diagrams: dict[str, list[dict]], ece_before: float, ece_after: float):
    """Reliability diagram: accuracy against mean confidence per confidence bin, before and
    after calibration, with the diagonal of perfect calibration and the bin counts."""
    fig, (ax, counts) = plt.subplots(
        2, 1, figsize=(6, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect")
    labels = {
        "before": f"before (ECE {100 * ece_before:.2f}%)",
        "after": f"after (ECE {100 * ece_after:.2f}%)",
    }
    for name, bins in diagrams.items():
        used = [row for row in bins if row["count"]]
        ax.plot(
            [row["confidence"] for row in used],
            [row["accuracy"] for row in used],
            marker="o",
            markersize=4,
            label=labels.get(name, name),
        )
        centres = [(row["low"] + row["high"]) / 2 for row in bins]
        width = (bins[0]["high"] - bins[0]["low"]) * (0.45 if name == "before" else -0.45)
        counts.bar(
            centres,
            [row["count"] for row in bins],
            width=width,
            align="edge",
            label=labels.get(name, name),
        )
    ax.set(ylabel="accuracy", title="Reliability (test split, top-class probability)")
    ax.set(xlim=(0, 1), ylim=(0, 1.01))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    counts.set(xlabel="confidence (mean per bin)", ylabel="images", yscale="log")
    fig.tight_layout()
    return fig


def coverage_figure(scores: dict[str, np.ndarray], correct: np.ndarray, unknown: dict):
    """Accuracy on the answered images against coverage (the share answered, most confident
    first) for each score, with the "unknown" threshold's operating point."""
    fig, ax = plt.subplots(figsize=(6, 4))
    n = len(correct)
    for label, values in scores.items():
        order = np.argsort(-values, kind="stable")
        answered = np.arange(1, n + 1)
        ax.plot(answered / n, np.cumsum(correct[order]) / answered, label=label)
    if unknown.get("answered"):
        ax.scatter(
            [unknown["coverage"]],
            [unknown["accuracy"]],
            color="black",
            zorder=3,
            label=f"'unknown' below {unknown['threshold']:.3f}",
        )
    low = max(0.0, float(correct.mean()) - 0.05)
    ax.set(
        xlabel="coverage (share of test images answered)",
        ylabel="accuracy on answered images",
        title="Selective prediction (test split)",
        xlim=(0.5, 1.0),
        ylim=(low, 1.001),
    )
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    fig.tight_layout()
    return fig
