"""Confidence that means what it says: temperature scaling, calibration error, and the
top-class probability threshold below which the model answers "unknown".

Temperature scaling (Guo et al., "On Calibration of Modern Neural Networks", ICML 2017)
divides the logits by one scalar ``T`` fitted on held-out images by minimising the negative
log-likelihood: the predicted class never changes (accuracy is untouched), only how sure the
probabilities say the model is. Label smoothing, mixup/CutMix and weight averaging all shift
confidence, so ``T`` is fitted on the validation split after training and exported inside the
ONNX graph (``logits / T``), where every consumer (serving, Spark, maps) gets it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, logsumexp

from eurosat_kedro.serving.predict import softmax

ECE_BINS = 15  # equal-width confidence bins, as in Guo et al.
# log T is searched in [-LOG_T_BOUND, LOG_T_BOUND]: T from 0.05 to 20
LOG_T_BOUND = 3.0


def negative_log_likelihood(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    """Mean cross-entropy of ``softmax(logits / temperature)`` against ``labels``."""
    scaled = log_softmax(logits.astype(np.float64) / temperature, axis=1)
    return float(-scaled[np.arange(len(labels)), labels].mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature that minimises the negative log-likelihood of ``labels`` (bounded
    search over log T; the NLL is convex in 1/T)."""
    if len(labels) == 0:
        raise ValueError("cannot fit a temperature on no images: the split is empty")
    result = minimize_scalar(
        lambda log_t: negative_log_likelihood(logits, labels, float(np.exp(log_t))),
        bounds=(-LOG_T_BOUND, LOG_T_BOUND),
        method="bounded",
        options={"xatol": 1e-5},
    )
    return float(np.exp(result.x))


def reliability_bins(
    confidences: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS
) -> list[dict[str, float]]:
    """Per equal-width confidence bin (``(lo, hi]``, the first also holds 0): its edges, the
    number of predictions, their mean confidence and their accuracy (NaN when empty)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.searchsorted(edges, confidences, side="left") - 1, 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    confidence_sums = np.bincount(index, weights=confidences, minlength=bins)
    correct_sums = np.bincount(index, weights=correct.astype(np.float64), minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = confidence_sums / counts
        accuracy = correct_sums / counts
    return [
        {
            "low": float(edges[i]),
            "high": float(edges[i + 1]),
            "count": int(counts[i]),
            # None for an empty bin (JSON has no NaN)
            "confidence": float(mean_confidence[i]) if counts[i] else None,
            "accuracy": float(accuracy[i]) if counts[i] else None,
        }
        for i in range(bins)
    ]


def expected_calibration_error(
    confidences: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS
) -> float:
    """ECE: the count-weighted mean |accuracy - confidence| over equal-width bins of the
    top-class probability (0 for a perfectly calibrated model)."""
    table = reliability_bins(confidences, correct, bins)
    total = sum(row["count"] for row in table)
    return float(
        sum(
            row["count"] * abs(row["accuracy"] - row["confidence"]) for row in table if row["count"]
        )
        / max(total, 1)
    )


def top_class(logits: np.ndarray, temperature: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """The predicted class and its probability under ``temperature``, per row."""
    probabilities = softmax(logits.astype(np.float64) / temperature)
    predicted = probabilities.argmax(axis=1)
    return predicted, probabilities[np.arange(len(predicted)), predicted]


def energy_score(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Negative free energy ``T * logsumexp(logits / T)`` per row (Liu et al., NeurIPS 2020):
    larger for inputs like the training data; an alternative to the top-class probability
    for telling out-of-distribution inputs apart."""
    return temperature * logsumexp(logits.astype(np.float64) / temperature, axis=1)


def threshold_for_coverage(scores: np.ndarray, coverage: float) -> float:
    """The score of the image ranked ``floor(coverage * n)``-th from the top: answering
    every image that scores at least this answers ``coverage`` of ``scores`` (a little more
    on ties); the rest are "unknown". 0 for full coverage."""
    if not 0 < coverage <= 1:
        raise ValueError(f"target coverage must be in (0, 1], got {coverage}")
    if coverage == 1 or len(scores) == 0:
        return 0.0
    answered = max(1, int(np.floor(coverage * len(scores))))
    return float(np.sort(scores)[::-1][answered - 1])


def accuracy_at_coverage(
    scores: np.ndarray, correct: np.ndarray, threshold: float
) -> dict[str, float]:
    """The share of images answered (``score >= threshold``) and the accuracy on them."""
    answered = scores >= threshold
    n = int(answered.sum())
    return {
        "threshold": float(threshold),
        "coverage": float(n / max(len(scores), 1)),
        "answered": n,
        "accuracy": float(correct[answered].mean()) if n else float("nan"),
    }


def risk_coverage_curve(
    scores: np.ndarray, correct: np.ndarray, coverages: tuple[float, ...]
) -> list[dict[str, float]]:
    """Accuracy on the most confident share of images, for each coverage in ``coverages``."""
    order = np.argsort(-scores, kind="stable")
    cumulative = np.cumsum(correct[order])
    rows = []
    for coverage in coverages:
        n = max(1, int(round(coverage * len(scores))))
        rows.append(
            {
                "coverage": float(n / len(scores)),
                "accuracy": float(cumulative[n - 1] / n),
                "threshold": float(scores[order[n - 1]]),
            }
        )
    return rows


COVERAGES = (1.0, 0.99, 0.98, 0.95, 0.9, 0.8)  # rows of the accuracy-coverage table


@dataclass(frozen=True)
class Calibration:
    """What evaluation fits on the validation split and deployment exports with the model:
    the temperature (under the ``tta`` setting it was fitted with) and the "unknown"
    threshold on the calibrated top-class probability (0: never unknown). Stored as
    ``calibration.json``."""

    temperature: float = 1.0
    tta: bool = False
    unknown_threshold: float = 0.0
    target_coverage: float = 1.0
    fitted_on: str = "validation"
    n_images: int = 0
    # what the fit did on its own images: nll/ece before and after, coverage, accuracy
    figures: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict, source: str = "calibration.json") -> Calibration:
        known = {f.name for f in fields(cls)}
        if "temperature" not in data:
            raise ValueError(
                f"{source} has no temperature: it was not written by the evaluation pipeline; "
                "run `kedro run --pipelines evaluation` again"
            )
        values = {key: value for key, value in data.items() if key in known}
        values["temperature"] = float(values["temperature"])
        return cls(**values)

    def check_tta(self, tta: bool, source: str = "calibration.json") -> None:
        """Refuse to apply the temperature to a model run under another ``tta`` than the
        one it was fitted with (the 8-view mean has other logits)."""
        if tta != self.tta:
            raise ValueError(
                f"{source} was fitted with evaluation.tta={str(self.tta).lower()}, but this "
                f"run has evaluation.tta={str(tta).lower()}: run the evaluation pipeline "
                "with the same evaluation.tta first"
            )
