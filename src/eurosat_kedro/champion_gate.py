"""The champion gate: which alias a new registered version gets. ``auto`` compares it with
the champion on the same test images, image by image, and promotes it only when McNemar's
exact test finds it significantly better (``eurosat_kedro.stats``) by at least the margin
asked for; ``always`` and ``never`` override the test."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple

import numpy as np
import pandas as pd

from eurosat_kedro import stats

PROMOTE_CHOICES = ("auto", "always", "never")


@dataclass(frozen=True)
class Candidate:
    """What the gate compares: a version's served test accuracy, the split it was measured on,
    and the served model's predicted label per test image (columns ``path``, ``label``,
    ``predicted``; None when the version stores none, ``missing`` then says why)."""

    accuracy: float
    data_fingerprint: str
    predictions: pd.DataFrame | None = field(default=None, compare=False, repr=False)
    version: str = ""
    missing: str = "it stores no per-image test predictions"


@dataclass(frozen=True)
class PairedComparison:
    """The new version against the champion on the same test images: how many each gets
    right where the other is wrong (the discordant pairs McNemar's test weighs)."""

    both_right: int
    n01: int  # the champion right, the new version wrong
    n10: int  # the champion wrong, the new version right
    both_wrong: int

    @classmethod
    def of(cls, champion_right: np.ndarray, new_right: np.ndarray) -> PairedComparison:
        """The counts of two aligned per-image hit arrays (True where that model is right)."""
        champion_right, new_right = np.asarray(champion_right, bool), np.asarray(new_right, bool)
        return cls(
            both_right=int((new_right & champion_right).sum()),
            n01=int((champion_right & ~new_right).sum()),
            n10=int((new_right & ~champion_right).sum()),
            both_wrong=int((~new_right & ~champion_right).sum()),
        )

    @property
    def n_images(self) -> int:
        return self.both_right + self.n01 + self.n10 + self.both_wrong

    @property
    def champion_accuracy(self) -> float:
        return (self.both_right + self.n01) / self.n_images

    @property
    def new_accuracy(self) -> float:
        return (self.both_right + self.n10) / self.n_images

    @property
    def gain_points(self) -> float:
        """The new version's test accuracy minus the champion's, in points."""
        return 100 * (self.n10 - self.n01) / self.n_images

    @cached_property
    def p_value(self) -> float:
        return stats.mcnemar_exact_p(self.n01, self.n10)

    def to_dict(self) -> dict:
        return {
            "test": "McNemar exact (two-sided binomial on the discordant images)",
            "n_images": self.n_images,
            "n01": self.n01,
            "n10": self.n10,
            "p_value": self.p_value,
            "champion_accuracy": self.champion_accuracy,
            "new_accuracy": self.new_accuracy,
            "gain_points": self.gain_points,
        }


class Decision(NamedTuple):
    """The alias a new version gets, why, and the paired comparison when there was one."""

    alias: str
    reason: str
    comparison: PairedComparison | None = None


PREDICTION_COLUMNS = ("path", "label", "predicted")


def pair_predictions(new: pd.DataFrame, champion: pd.DataFrame) -> PairedComparison:
    """Pair the two versions' predictions by image path; a ValueError says why they cannot
    be (other images, other labels, a missing column)."""
    for who, frame in (("new version", new), ("champion", champion)):
        absent = [c for c in PREDICTION_COLUMNS if c not in frame]
        if absent or frame["path"].duplicated().any():
            raise ValueError(
                f"the {who}'s per-image test predictions need the columns "
                f"{list(PREDICTION_COLUMNS)} and one row per path (missing: {absent})"
            )
    paired = new.merge(champion, on="path", how="outer", suffixes=("_new", "_champion"))
    unpaired = int(paired[["label_new", "label_champion"]].isna().any(axis=1).sum())
    if unpaired:
        raise ValueError(
            f"the two versions were tested on different images ({unpaired} of "
            f"{len(paired)} paths are in only one of them)"
        )
    if (paired["label_new"] != paired["label_champion"]).any():
        raise ValueError("the two versions' test images carry different labels")
    new_right = (paired["predicted_new"] == paired["label_new"]).to_numpy()
    champion_right = (paired["predicted_champion"] == paired["label_new"]).to_numpy()
    return PairedComparison.of(champion_right, new_right)


def gate(comparison: PairedComparison, min_improvement: float, alpha: float) -> tuple[str, str]:
    """``("champion" | "challenger", why)``: champion only when the new version gets more of
    the discordant images right (``n10 > n01``), McNemar's exact p-value is below ``alpha``,
    and its test accuracy is higher by at least ``min_improvement`` points."""
    c = comparison
    measured = (
        f"test accuracy {c.new_accuracy:.4f} vs the champion's {c.champion_accuracy:.4f} on "
        f"the same {c.n_images} test images; n10={c.n10} images only the new version gets "
        f"right, n01={c.n01} only the champion; McNemar exact p={c.p_value:.2g}"
    )
    if c.n10 <= c.n01:
        return "challenger", f"{measured}: not better than the champion"
    if c.p_value >= alpha:
        return "challenger", (
            f"{measured}: better by {c.gain_points:.2f} points but not significantly "
            f"(p >= deployment.registry.alpha={alpha}), so the gain can be noise"
        )
    if c.gain_points < min_improvement:
        return "challenger", (
            f"{measured}: significantly better, but by {c.gain_points:.2f} points, less than "
            f"deployment.registry.min_improvement={min_improvement}"
        )
    return "champion", (
        f"{measured}: significantly better (p < {alpha}) by {c.gain_points:.2f} points "
        f"(min_improvement {min_improvement})"
    )


def compare(new: Candidate, champion: Candidate) -> PairedComparison | str:
    """The paired comparison of the two versions, or why there can be none."""
    if new.data_fingerprint != champion.data_fingerprint:
        return (
            "measured on a different test split than the champion (data fingerprint "
            f"{new.data_fingerprint[:12]} vs {champion.data_fingerprint[:12]}), so the "
            "accuracies are not comparable; promote it with deployment.registry.promote=always"
        )
    champion_name = (
        f"the champion (version {champion.version})" if champion.version else "the champion"
    )
    for who, candidate in (("the new version", new), (champion_name, champion)):
        if candidate.predictions is None:
            return (
                f"{who}: {candidate.missing}, so the two cannot be paired image by "
                "image and the gain cannot be tested; promote it with "
                "deployment.registry.promote=always"
            )
    try:
        return pair_predictions(new.predictions, champion.predictions)
    except ValueError as error:
        return f"cannot compare it with the champion: {error}"


def decide_alias(
    new: Candidate,
    champion: Candidate | None,
    promote: str,
    min_improvement: float,
    alpha: float = 0.05,
) -> Decision:
    """The alias for a new version. ``auto`` promotes only a version significantly better
    than the champion on the same test images (``gate``); ``min_improvement`` is in
    test-accuracy points. The paired comparison is made, for the record, whenever it can be."""
    if promote not in PROMOTE_CHOICES:
        raise ValueError(
            f"deployment.registry.promote must be one of {list(PROMOTE_CHOICES)}, got {promote!r}"
        )
    if not 0 < alpha < 1:
        raise ValueError(
            f"deployment.registry.alpha must be between 0 and 1 (a significance level such "
            f"as 0.05), got {alpha!r}"
        )
    comparison = None if champion is None else compare(new, champion)
    paired = comparison if isinstance(comparison, PairedComparison) else None
    if promote == "always":
        return Decision("champion", "deployment.registry.promote=always", paired)
    if promote == "never":
        return Decision("challenger", "deployment.registry.promote=never", paired)
    if champion is None:
        return Decision("champion", "first version: there was no champion")
    if paired is None:
        return Decision("challenger", comparison)
    return Decision(*gate(paired, min_improvement, alpha), paired)


def gate_tags(decision: Decision, alpha: float) -> dict[str, str]:
    """The version tags that record the gate: its decision and, when the version was
    compared with the champion, the discordant counts and the p-value."""
    tags = {"gate.decision": decision.alias}
    if decision.comparison is not None:
        c = decision.comparison
        tags.update(
            {
                "gate.n_images": str(c.n_images),
                "gate.n01": str(c.n01),
                "gate.n10": str(c.n10),
                "gate.p_value": f"{c.p_value:.6g}",
                "gate.alpha": str(alpha),
            }
        )
    return tags
