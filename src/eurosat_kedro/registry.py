"""The MLflow Model Registry side of deployment: a version per run, tagged for review, its
per-image test predictions kept for later comparisons, and the alias the champion gate
(``eurosat_kedro.champion_gate``) gives it."""

from __future__ import annotations

import hashlib
import logging
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from eurosat_kedro.champion_gate import (
    PREDICTION_COLUMNS,
    Candidate,
    decide_alias,
    gate_tags,
)
from eurosat_kedro.metrics import HEADLINE_FIGURES
from eurosat_kedro.serving.model_card import ModelCard

logger = logging.getLogger(__name__)


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
        """The version with the ``champion`` alias, with its per-image test predictions
        (the artifact its ``test_predictions`` tag points to), or None if there is none."""
        from mlflow.exceptions import MlflowException

        try:
            version = self.client.get_model_version_by_alias(self.name, "champion")
        except MlflowException:  # no such model, or no champion alias yet
            return None
        tags = version.tags
        uri = tags.get("test_predictions")
        predictions, missing = None, "it stores no per-image test predictions"
        if uri:
            try:
                predictions = read_predictions(uri)
            except (MlflowException, OSError, ValueError) as error:
                missing = f"its per-image test predictions ({uri}) could not be read: {error}"
        return Candidate(
            float(tags.get("test_accuracy", "nan")),
            tags.get("data_fingerprint", ""),
            predictions,
            str(version.version),
            missing,
        )

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

    def tag(self, version: str, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self.client.set_model_version_tag(self.name, version, key, value)


# where a run keeps a logged model's predicted label per test image (the gate pairs them)
PREDICTIONS_ARTIFACT = "registry/{model_id}/served_test_predictions.csv"


def log_predictions(logged_model: dict, predictions: pd.DataFrame) -> str:
    """Log ``predictions`` (``path``, ``label``, ``predicted``) of ``logged_model``
    (``model_id``, ``run_id``) to its run; return the ``runs:/`` URI a version's
    ``test_predictions`` tag keeps."""
    from mlflow import MlflowClient

    absent = [c for c in PREDICTION_COLUMNS if c not in predictions]
    if absent:
        raise ValueError(
            f"the served model's test predictions lack the columns {absent}: expected "
            f"{list(PREDICTION_COLUMNS)} (one row per test image)"
        )
    path = PREDICTIONS_ARTIFACT.format(model_id=logged_model["model_id"])
    text = predictions[list(PREDICTION_COLUMNS)].to_csv(index=False)
    MlflowClient().log_text(logged_model["run_id"], text, path)
    return f"runs:/{logged_model['run_id']}/{path}"


def read_predictions(uri: str) -> pd.DataFrame:
    """The per-image test predictions ``log_predictions`` logged at ``uri``."""
    import mlflow

    with tempfile.TemporaryDirectory() as folder:
        local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=folder)
        return pd.read_csv(local, dtype={"path": str})


# the tag of a served test score: test_accuracy, test_accuracy_ci_low, ..., test_macro_f1_ci_high
SCORE_TAG = "test_{}"


def tagged_scores(tags: Mapping[str, str]) -> dict[str, float]:
    """The served test scores a version's tags record (``version_tags`` wrote them), by
    figure: ``accuracy``, ``accuracy_ci_low``, ... (those recorded)."""
    named = {key: SCORE_TAG.format(key) for key in HEADLINE_FIGURES}
    return {key: float(tags[tag]) for key, tag in named.items() if tag in tags}


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
        **{SCORE_TAG.format(key): f"{value:.6f}" for key, value in scores.items()},
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


def _with_interval(tags: dict[str, str], figure: str) -> str:
    """``0.9872 (95% CI 0.9834-0.9902)`` from the tags, or the figure alone."""
    text = f"{float(tags[figure]):.4f}"
    low, high = tags.get(f"{figure}_ci_low"), tags.get(f"{figure}_ci_high")
    return f"{text} (95% CI {float(low):.4f}-{float(high):.4f})" if low and high else text


def version_description(tags: dict[str, str]) -> str:
    """A version's description, from its review tags: how it was trained and how it scored."""
    lines = [
        f"Model `{tags['model_name']}`, {tags['precision']} weights, test-time augmentation "
        f"{'on' if tags['tta'] == 'true' else 'off'}.",
        f"Test accuracy {_with_interval(tags, 'test_accuracy')}, macro F1 "
        f"{_with_interval(tags, 'test_macro_f1')}, on the test split "
        f"`{tags['data_fingerprint'][:12]}` (tag `data_fingerprint`).",
        f"Trained and evaluated in MLflow run `{tags['run_id']}`, commit "
        f"`{tags.get('git_commit', 'unknown')}`.",
    ]
    return "\n\n".join(lines)


def register_logged_model(
    name: str,
    logged_model: dict,
    tags: dict[str, str],
    predictions: pd.DataFrame,
    promote: str = "auto",
    min_improvement: float = 0.0,
    alpha: float = 0.05,
    model_text: str | None = None,
) -> dict:
    """Register ``logged_model`` (``model_uri``, ``model_id``, ``run_id``) as a new version of
    ``name`` with ``tags`` and a description (``version_description``; the registered model's
    becomes ``model_text`` when given), give it ``champion`` or ``challenger`` by the gate on
    the served model's per-image test ``predictions`` (``path``, ``label``, ``predicted``;
    logged to the run for later gates), record the outcome on the run and the version, and
    return the report."""
    import mlflow
    from mlflow import MlflowClient

    accuracy = float(tags["test_accuracy"])
    models = Registry(name)
    champion = models.champion()
    decision = decide_alias(
        Candidate(accuracy, tags["data_fingerprint"], predictions),
        champion,
        promote,
        min_improvement,
        alpha,
    )
    mlflow.log_metrics(
        {"served.test_accuracy": accuracy, "served.test_macro_f1": float(tags["test_macro_f1"])},
        model_id=logged_model["model_id"],
        run_id=logged_model["run_id"],
    )
    tags = {**tags, "test_predictions": log_predictions(logged_model, predictions)}
    version = models.register(logged_model["model_uri"], tags)
    models.describe(version, version_description(tags), model_text)
    models.set_alias(decision.alias, version, decision.reason)
    models.tag(version, gate_tags(decision, alpha))
    client = MlflowClient()
    run_tags = {"version": version, "alias": decision.alias, "reason": decision.reason}
    for key, value in run_tags.items():
        client.set_tag(logged_model["run_id"], f"registry.{key}", value)
    gate_report = None
    if decision.comparison is not None:
        gate_report = {
            **decision.comparison.to_dict(),
            "champion_version": champion.version,
            "alpha": alpha,
            "min_improvement": min_improvement,
        }
    return {
        "registered": True,
        "registered_model": name,
        "version": version,
        "alias": decision.alias,
        "reason": decision.reason,
        "gate": gate_report,
        "model_uri": f"models:/{name}/{version}",
        "tags": tags,
    }
