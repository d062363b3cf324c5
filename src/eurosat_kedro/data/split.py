"""Deterministic stratified train/val/test split."""

from __future__ import annotations

import numpy as np
import pandas as pd

SPLITS = ("train", "val", "test")


def stratified_split(index: pd.DataFrame, fractions: dict[str, float], seed: int) -> pd.Series:
    """Assign each valid row of ``index`` to train/val/test, class by class.

    Within a class, rows (sorted by path) are shuffled with a NumPy generator seeded by
    ``seed`` and the class's label, so the result depends only on the file list and the seed:
    the same on every rerun and machine. Val and test get ``round(n * fraction)`` images and
    train the rest, so every class is within one image of the requested fractions. Invalid
    rows get ``"excluded"``.
    """
    if set(fractions) != set(SPLITS):
        raise ValueError(f"split fractions must name exactly {SPLITS}, got {sorted(fractions)}")
    if any(f < 0 for f in fractions.values()) or abs(sum(fractions.values()) - 1) > 1e-6:
        raise ValueError(f"split fractions must be non-negative and sum to 1, got {fractions}")
    assignment = pd.Series("excluded", index=index.index, dtype=object)
    valid = index[index["valid"]]
    for label, group in valid.groupby("label", sort=True):
        order = group.sort_values("path", kind="stable").index.to_numpy()
        rng = np.random.default_rng([seed, int(label)])
        order = order[rng.permutation(len(order))]
        n_val = round(len(order) * fractions["val"])
        n_test = round(len(order) * fractions["test"])
        n_train = len(order) - n_val - n_test
        assignment[order[:n_train]] = "train"
        assignment[order[n_train : n_train + n_val]] = "val"
        assignment[order[n_train + n_val :]] = "test"
    return assignment
