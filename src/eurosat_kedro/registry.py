"""The MLflow Model Registry side of deployment: a version per run, tagged for review, and
the champion gate that decides which version serves."""

from __future__ import annotations

import hashlib
import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eurosat_kedro.serving.model_card import ModelCard

logger = logging.getLogger(__name__)

PROMOTE_CHOICES = ("auto", "always", "never")


@dataclass(frozen=True)
class Candidate:
    """What the gate compares: a version's served test accuracy and the split it was measured on."""

    accuracy: float
    data_fingerprint: str


def split_fingerprint(test_arrays: dict) -> str:
    """sha256 over the test split's paths, labels and pixels: equal fingerprints mean the
    accuracies were measured on the same images."""
    digest = hashlib.sha256()
    for key in ("paths", "labels", "images"):
        values = np.ascontiguousarray(test_arrays[key])
        digest.update(key.encode())
        digest.update(str(values.shape).encode())
        digest.update(
            "\n".join(map(str, values)).encode() if values.dtype.kind == "U" else values.tobytes()
        )
    return digest.hexdigest()


def decide_alias(
    new: Candidate, champion: Candidate | None, promote: str, min_improvement: float
) -> tuple[str, str]:
    """``("champion" | "challenger", why)`` for a new version. ``min_improvement`` is in
    test-accuracy points; ``auto`` promotes only a strictly better model on the same split."""
    if promote not in PROMOTE_CHOICES:
        raise ValueError(
            f"deployment.registry.promote must be one of {list(PROMOTE_CHOICES)}, got {promote!r}"
        )
    if promote == "always":
        return "champion", "deployment.registry.promote=always"
    if promote == "never":
        return "challenger", "deployment.registry.promote=never"
    if champion is None:
        return "champion", "first version: there was no champion"
    if new.data_fingerprint != champion.data_fingerprint:
        return "challenger", (
            "measured on a different test split than the champion (data fingerprint "
            f"{new.data_fingerprint[:12]} vs {champion.data_fingerprint[:12]}), so the "
            "accuracies are not comparable; promote it with deployment.registry.promote=always"
        )
    gain = 100 * (new.accuracy - champion.accuracy)
    if gain > 0 and gain >= min_improvement:
        return "champion", (
            f"test accuracy {new.accuracy:.4f} beats the champion's "
            f"{champion.accuracy:.4f} by {gain:.2f} points"
        )
    return "challenger", (
        f"test accuracy {new.accuracy:.4f} does not beat the champion's {champion.accuracy:.4f} "
        f"by more than 0 and at least {min_improvement} points (gain {gain:.2f})"
    )


def git_commit(folder: Path) -> str:
    """The commit checked out in ``folder`` (with ``+dirty`` for local changes), or unknown."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+dirty" if dirty.strip() else "")


class Registry:
    """One registered model in the MLflow Model Registry of the current tracking URI."""

    def __init__(self, name: str):
        from mlflow import MlflowClient

        self.name = name
        self.client = MlflowClient()

    def champion(self) -> Candidate | None:
        from mlflow.exceptions import MlflowException

        try:
            version = self.client.get_model_version_by_alias(self.name, "champion")
        except MlflowException:  # no such model, or no champion alias yet
            return None
        tags = version.tags
        return Candidate(float(tags.get("test_accuracy", "nan")), tags.get("data_fingerprint", ""))

    def register(self, model_uri: str, tags: dict[str, str]) -> str:
        import mlflow

        version = mlflow.register_model(model_uri, self.name, tags=tags)
        return str(version.version)

    def describe(self, version: str, version_text: str, model_text: str | None = None) -> None:
        """Set the version's description and, when given, the registered model's (both are
        Markdown in the MLflow UI)."""
        self.client.update_model_version(self.name, version, description=version_text)
        if model_text is not None:
            self.client.update_registered_model(self.name, description=model_text)

    def set_alias(self, alias: str, version: str, reason: str) -> None:
        self.client.set_registered_model_alias(self.name, alias, version)
        self.client.set_model_version_tag(self.name, version, "promotion", f"{alias}: {reason}")


def version_tags(
    card: ModelCard, scores: dict, data_fingerprint: str, run_id: str, project: Path
) -> dict[str, str]:
    """The tags a registered version carries for review: what the model is, its served test
    scores, the split they were measured on, the commit and run that made it, and the data
    that run logged (``data.train_digest``, ``data.test_digest``, ``data.archive_sha256``, ...:
    ``lineage.version_tags_of_run``)."""
    from eurosat_kedro import lineage  # imports this module

    return {
        "model_name": card.model_name,
        "precision": card.precision,
        "tta": str(card.tta).lower(),
        "test_accuracy": f"{scores['accuracy']:.6f}",
        "test_macro_f1": f"{scores['macro_f1']:.6f}",
        "data_fingerprint": data_fingerprint,
        "git_commit": git_commit(project),
        "run_id": run_id,
        **lineage.version_tags_of_run(run_id),
    }


def model_description(classes: tuple[str, ...] | list[str], about: str = "") -> str:
    """The registered model's description: ``about`` (what this registered model is for,
    ``deployment.registry.description``), then what every version takes and answers, from
    the serving contract."""
    from eurosat_kedro.serving import contract

    numbered = ", ".join(f"{i} {name}" for i, name in enumerate(classes))
    return "\n\n".join(
        part
        for part in (
            about.strip(),
            "EuroSAT land-use classifier for 64x64 RGB Sentinel-2 tiles: an MLflow pyfunc over "
            "ONNX Runtime (no torch needed to serve it).",
            f"Classes ({len(classes)}, label: name): {numbered}.",
            "Input: one row per image with exactly one of "
            + ", ".join(f"`{c}`" for c in contract.INPUT_COLUMNS)
            + ". Output per image: "
            + ", ".join(f"`{c}`" for c in contract.OUTPUT_COLUMNS)
            + f"; params: `on_error` ({' | '.join(contract.ON_ERROR)}). "
            "Defined in eurosat_kedro/serving/contract.py.",
        )
        if part
    )


def version_description(tags: dict[str, str]) -> str:
    """A version's description, from its review tags: how it was trained and how it scored."""
    lines = [
        f"Model `{tags['model_name']}`, {tags['precision']} weights, test-time augmentation "
        f"{'on' if tags['tta'] == 'true' else 'off'}.",
        f"Test accuracy {float(tags['test_accuracy']):.4f}, macro F1 "
        f"{float(tags['test_macro_f1']):.4f}, on the test split "
        f"`{tags['data_fingerprint'][:12]}` (tag `data_fingerprint`).",
        f"Trained and evaluated in MLflow run `{tags['run_id']}`, commit "
        f"`{tags.get('git_commit', 'unknown')}`.",
    ]
    return "\n\n".join(lines)


def register_logged_model(
    name: str,
    logged_model: dict,
    tags: dict[str, str],
    promote: str = "auto",
    min_improvement: float = 0.0,
    model_text: str | None = None,
) -> dict:
    """Register ``logged_model`` (``model_uri``, ``model_id``, ``run_id``) as a new version of
    ``name`` with ``tags`` and a description (``version_description``; the registered model's
    becomes ``model_text`` when given), give it ``champion`` or ``challenger`` by the gate,
    record the outcome on the run, and return the report."""
    import mlflow
    from mlflow import MlflowClient

    accuracy = float(tags["test_accuracy"])
    mlflow.log_metrics(
        {"served.test_accuracy": accuracy, "served.test_macro_f1": float(tags["test_macro_f1"])},
        model_id=logged_model["model_id"],
        run_id=logged_model["run_id"],
    )
    models = Registry(name)
    champion = models.champion()
    version = models.register(logged_model["model_uri"], tags)
    models.describe(version, version_description(tags), model_text)
    alias, reason = decide_alias(
        Candidate(accuracy, tags["data_fingerprint"]), champion, promote, min_improvement
    )
    models.set_alias(alias, version, reason)
    client = MlflowClient()
    for key, value in {"version": version, "alias": alias, "reason": reason}.items():
        client.set_tag(logged_model["run_id"], f"registry.{key}", value)
    return {
        "registered": True,
        "registered_model": name,
        "version": version,
        "alias": alias,
        "reason": reason,
        "model_uri": f"models:/{name}/{version}",
        "tags": tags,
    }
