"""The statistics behind the reported figures, defined once: 95% intervals for proportions
(Wilson score) and for macro F1 (a seeded percentile bootstrap over test images), and
McNemar's exact test of two classifiers on the same test images (the champion gate)."""

from __future__ import annotations

import numpy as np
from scipy.stats import binomtest

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
# how the intervals next to the figures were computed: written beside them in the reports
INTERVALS = {
    "confidence": CONFIDENCE,
    "accuracy": "Wilson score interval",
    "recall": "Wilson score interval",
    "macro_f1": (
        f"percentile bootstrap over the test images, {BOOTSTRAP_RESAMPLES} resamples, "
        f"seed {BOOTSTRAP_SEED}"
    ),
}
_BOOTSTRAP_BLOCK = 2_000_000  # resampled labels held in memory at once


def wilson_interval(
    successes: int, trials: int, confidence: float = CONFIDENCE
) -> tuple[float, float]:
    """The Wilson score interval of the proportion ``successes / trials``; ``(0, 1)`` when
    there are no trials (nothing is known)."""
    if trials == 0:
        return 0.0, 1.0
    interval = binomtest(int(successes), int(trials)).proportion_ci(confidence, method="wilson")
    return float(interval.low), float(interval.high)


def macro_f1_of_resamples(
    y_true: np.ndarray, y_pred: np.ndarray, rows: np.ndarray, num_classes: int
) -> np.ndarray:
    """Macro F1 over all ``num_classes`` labels (an absent one counts as F1 0, as sklearn's
    ``zero_division=0``) of each resample: ``rows`` is (resamples, images) of image indices."""
    resamples = len(rows)
    cells = num_classes * num_classes
    codes = (y_true * num_classes + y_pred)[rows] + cells * np.arange(resamples)[:, None]
    counts = np.bincount(codes.ravel(), minlength=resamples * cells)
    confusion = counts.reshape(resamples, num_classes, num_classes)
    true_positives = np.diagonal(confusion, axis1=1, axis2=2)
    denominator = confusion.sum(axis=2) + confusion.sum(axis=1)  # 2 TP + FP + FN
    f1 = np.divide(
        2 * true_positives, denominator, out=np.zeros(denominator.shape), where=denominator > 0
    )
    return f1.mean(axis=1)


def macro_f1_interval(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    num_classes: int,
    confidence: float = CONFIDENCE,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """The percentile bootstrap interval of macro F1: the images are resampled with
    replacement ``resamples`` times (seeded, so a report is reproducible)."""
    y_true, y_pred = np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)
    n = len(y_true)
    if n == 0:
        return 0.0, 1.0
    rng = np.random.default_rng(seed)
    block = max(1, _BOOTSTRAP_BLOCK // n)
    scores = np.concatenate(
        [
            macro_f1_of_resamples(
                y_true, y_pred, rng.integers(0, n, (min(block, resamples - start), n)), num_classes
            )
            for start in range(0, resamples, block)
        ]
    )
    tail = (1 - confidence) / 2
    low, high = np.quantile(scores, [tail, 1 - tail])
    return float(low), float(high)


def mcnemar_exact_p(n01: int, n10: int) -> float:
    """McNemar's exact two-sided p-value for two classifiers on the same images: ``n01``
    images only the first gets right, ``n10`` only the second. Under "equally accurate" each
    discordant image is a fair coin, so this is the binomial test of ``n10`` of
    ``n01 + n10`` at 1/2; 1.0 when they never disagree."""
    discordant = int(n01) + int(n10)
    return 1.0 if discordant == 0 else float(binomtest(int(n10), discordant, 0.5).pvalue)
