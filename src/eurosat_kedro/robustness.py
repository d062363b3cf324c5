"""Accuracy under controlled radiometric shifts (``perturbations``): each shift applied to the
uint8 test images before the shared preprocessing, scored against the clean images."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from eurosat_kedro.perturbations import check_setting, perturb, perturbation_name
from eurosat_kedro.stats import CONFIDENCE, wilson_interval

COLUMNS = ["name", "kind", "value", "accuracy", "ci_low", "ci_high", "drop", "changed", "n_images"]


def shifts_from_params(settings: Mapping) -> list[tuple[str, float]]:
    """``(kind, value)`` of each shift in ``evaluation.robustness`` (``perturbations``: kind
    -> list of values), all checked before any is applied; none when ``enabled`` is false."""
    if not settings.get("enabled", True):
        return []
    given = settings.get("perturbations") or {}
    if not isinstance(given, Mapping):
        raise ValueError(
            "evaluation.robustness.perturbations must map a kind to a list of values, e.g. "
            f"{{gain: [0.8, 1.2], jpeg: [75]}}, got {given!r}"
        )
    shifts = []
    for kind, values in given.items():
        for value in values if isinstance(values, list | tuple) else [values]:
            try:
                check_setting(kind, value)
            except ValueError as error:
                raise ValueError(f"evaluation.robustness.perturbations.{kind}: {error}") from None
            if (kind, value) not in shifts:
                shifts.append((kind, value))
    return shifts


def _row(shift: tuple[str, float] | None, correct: np.ndarray, clean: float, changed: float):
    """A row of the table: ``correct`` (one bool an image) under ``shift`` (None: clean)."""
    kind, value = shift or (None, None)
    low, high = wilson_interval(int(correct.sum()), len(correct), CONFIDENCE)
    accuracy = float(correct.mean())
    return {
        "name": "clean" if shift is None else perturbation_name(*shift),
        "kind": kind,
        "value": value,
        "accuracy": accuracy,
        "ci_low": low,
        "ci_high": high,
        "drop": clean - accuracy,  # accuracy lost to the shift (negative: gained)
        "changed": changed,  # share of images whose prediction the shift changed
        "n_images": len(correct),
    }


def accuracy_under_shifts(
    predict: Callable[[np.ndarray], np.ndarray],
    images: np.ndarray,
    labels: np.ndarray,
    shifts: list[tuple[str, float]],
    chunk: int = 512,
) -> list[dict]:
    """One row for the clean images, then one per shift: accuracy, its 95% Wilson interval,
    the drop from clean and the share of predictions changed. ``predict`` takes uint8
    ``(N, 64, 64, 3)`` images and returns predicted labels; images are shifted ``chunk`` at
    a time."""
    if len(images) == 0:
        raise ValueError("the test split is empty: run the data_processing pipeline first")
    labels = np.asarray(labels)

    def predicted(shift: tuple[str, float] | None) -> np.ndarray:
        parts = []
        for start in range(0, len(images), chunk):
            part = images[start : start + chunk]
            parts.append(predict(part if shift is None else perturb(part, *shift)))
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    clean = predicted(None)
    clean_accuracy = float((clean == labels).mean())
    rows = [_row(None, clean == labels, clean_accuracy, 0.0)]
    for shift in shifts:
        shifted = predicted(shift)
        rows.append(
            _row(shift, shifted == labels, clean_accuracy, float((shifted != clean).mean()))
        )
    return rows
