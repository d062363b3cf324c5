"""How well the served model's confidence tells EuroSAT tiles from windows no EuroSAT class
describes (clouds, cloud shadow, cirrus, snow, bare rock, synthetic patterns), and what share
of those would still get a land-use class at the model's "unknown" threshold.

    .venv/bin/python scripts/measure_ood.py --model data/06_models/mlflow_model \
        --test data/05_model_input/test.npz --shared ../shared/data/sentinel2

In-distribution: the test split. Out of distribution (each group reported apart):
- windows of the real L2A product T29UNU (2022-10-05, baseline 04.00) at 60 m, cut on a
  64-pixel grid and labelled by its scene classification (SCL, 60 m) where at least 90% of
  the window is one of: cloud medium/high probability (8, 9), thin cirrus (10), cloud
  shadow (3), snow (11); EuroSAT's radiometry with the product's own offset;
- windows of the real L2A crop of the Dolomites (June 2022, +1000 offset), every 32
  pixels, that a simple rule calls bare rock: at least 75% of the pixels grey (band spread
  below 20% of their mean) and bright (reflectance 0.12-0.6), i.e. limestone and scree
  (some may be cloud);
- synthetic windows: flat colours, noise, stripes and checkerboards.
Scores: the calibrated top-class probability (what the threshold uses) and the energy score.
Prints one table; AUROC 1.0 means every OOD window scores below every test tile.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import rasterio
from sklearn.metrics import roc_auc_score

from eurosat_kedro.calibration import energy_score, top_class
from eurosat_kedro.datasets import ServedModelDataset
from eurosat_kedro.mapping.radiometry import eurosat_limits, read_metadata
from eurosat_kedro.mapping.stretch import to_uint8
from eurosat_kedro.serving.classifier import OnnxClassifier

WINDOW = 64
SCL_GROUPS = {"cloud": (8, 9), "thin cirrus": (10,), "cloud shadow": (3,), "snow": (11,)}
PURE = 0.9  # share of a window that must be of its group
# bare rock is patchy: windows every 32 pixels (overlapping), three quarters of them rock
ROCK_STRIDE, ROCK_PURE = 32, 0.75


def windows(image: np.ndarray, stride: int = WINDOW) -> np.ndarray:
    """64x64 windows of an ``(h, w, c)`` image every ``stride`` pixels, ``(n, 64, 64, c)``."""
    view = np.lib.stride_tricks.sliding_window_view(image, (WINDOW, WINDOW), axis=(0, 1))
    return (
        view[::stride, ::stride].reshape(-1, image.shape[2], WINDOW, WINDOW).transpose(0, 2, 3, 1)
    )


def scl_windows(safe: Path) -> dict[str, np.ndarray]:
    """The T29UNU product's 60 m windows, by the SCL group that covers them."""
    r60 = next(safe.glob("GRANULE/*/IMG_DATA/R60m"))
    bands = [
        rasterio.open(next(r60.glob(f"*_{band}_60m.jp2"))).read(1) for band in ("B04", "B03", "B02")
    ]
    scl = rasterio.open(next(r60.glob("*_SCL_60m.jp2"))).read(1)
    radiometry = read_metadata(safe / "MTD_MSIL2A.xml")
    rgb = to_uint8(np.stack(bands), eurosat_limits(radiometry.offset), valid=scl > 0)
    tiles, labels = windows(rgb), windows(scl[..., None])[..., 0]
    out = {}
    for group, values in SCL_GROUPS.items():
        share = np.isin(labels, values).mean(axis=(1, 2))
        out[f"T29UNU 60 m: {group}"] = tiles[share >= PURE]
    return out


def rock_windows(folder: Path) -> np.ndarray:
    """Windows of the Dolomites crop that are mostly grey and bright (bare limestone)."""
    dn = np.stack(
        [rasterio.open(folder / f"sentinel.dolomites.b{b}.tif").read(1) for b in (4, 3, 2)]
    )
    reflectance = (dn.astype(np.float32) - 1000) / 10000
    mean = reflectance.mean(axis=0)
    spread = reflectance.max(axis=0) - reflectance.min(axis=0)
    rock = (spread < 0.2 * mean) & (mean > 0.12) & (mean < 0.6)
    rgb = to_uint8(dn, eurosat_limits(-1000))
    share = windows(rock[..., None], ROCK_STRIDE)[..., 0].mean(axis=(1, 2))
    return windows(rgb, ROCK_STRIDE)[share >= ROCK_PURE]


def synthetic_windows(n: int = 40, seed: int = 0) -> dict[str, np.ndarray]:
    """Patterns no land-use class looks like."""
    rng = np.random.default_rng(seed)
    flat = rng.integers(0, 256, size=(n, 1, 1, 3), dtype=np.uint8) * np.ones(
        (1, WINDOW, WINDOW, 1), np.uint8
    )
    noise = rng.integers(0, 256, size=(n, WINDOW, WINDOW, 3), dtype=np.uint8)
    stripes = ((np.arange(WINDOW) // 4 % 2) * 255).astype(np.uint8)
    striped = np.broadcast_to(stripes[None, None, :, None], (n, WINDOW, WINDOW, 3)).copy()
    checker = (np.add.outer(np.arange(WINDOW) // 8, np.arange(WINDOW) // 8) % 2 * 255).astype(
        np.uint8
    )
    checkered = np.broadcast_to(checker[None, :, :, None], (n, WINDOW, WINDOW, 3)).copy()
    return {
        "synthetic: flat colour": flat,
        "synthetic: noise": noise,
        "synthetic: stripes": striped,
        "synthetic: checkerboard": checkered,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="data/06_models/mlflow_model")
    parser.add_argument("--test", type=Path, default=Path("data/05_model_input/test.npz"))
    parser.add_argument("--shared", type=Path, default=Path("../shared/data/sentinel2"))
    args = parser.parse_args()
    served = ServedModelDataset(args.model, parameter="--model").load()
    classifier = OnnxClassifier(served.onnx_model, list(served.classes))
    threshold = classifier.unknown_threshold
    groups = {}
    safe = next(args.shared.glob("S2A_MSIL2A_*T29UNU*.SAFE"), None)
    if safe is not None:
        groups.update(scl_windows(safe))
    if (args.shared / "L2A_dolomites_2022-06").is_dir():
        groups["Dolomites 10 m: bare rock (rule)"] = rock_windows(
            args.shared / "L2A_dolomites_2022-06"
        )
    groups.update(synthetic_windows())
    test = np.load(args.test)["images"]

    def scores(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        logits = classifier.logits(images)  # calibrated: the temperature is in the graph
        return top_class(logits)[1], energy_score(logits)

    test_p, test_e = scores(test)
    print(
        f"model {args.model}: temperature {classifier_temperature(served)}, 'unknown' below "
        f"{threshold:.4f} (test images answered: {(test_p >= threshold).mean():.1%} of "
        f"{len(test)})"
    )
    print(
        f"{'out-of-distribution group':40s} {'windows':>7s} {'AUROC p':>8s} {'AUROC E':>8s} "
        f"{'answered':>9s}"
    )
    everything = []
    for name, images in groups.items():
        if len(images) == 0:
            print(f"{name:40s} {0:7d}   (none found)")
            continue
        p, e = scores(images)
        everything.append((p, e))
        print(
            f"{name:40s} {len(images):7d} {auroc(test_p, p):8.3f} {auroc(test_e, e):8.3f} "
            f"{(p >= threshold).mean():9.1%}"
        )
    p = np.concatenate([p for p, _ in everything])
    e = np.concatenate([e for _, e in everything])
    print(
        f"{'all':40s} {len(p):7d} {auroc(test_p, p):8.3f} {auroc(test_e, e):8.3f} "
        f"{(p >= threshold).mean():9.1%}"
    )


def classifier_temperature(served) -> str:
    import onnx

    from eurosat_kedro.serving.model_card import ModelCard

    return f"{ModelCard.of(onnx.load_from_string(served.onnx_model)).temperature:.3f}"


def auroc(inside: np.ndarray, outside: np.ndarray) -> float:
    """AUROC of a score for telling in-distribution (positive) from OOD windows."""
    labels = np.r_[np.ones(len(inside)), np.zeros(len(outside))]
    return float(roc_auc_score(labels, np.r_[inside, outside]))


if __name__ == "__main__":
    main()
