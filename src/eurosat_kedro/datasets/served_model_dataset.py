"""The served ONNX model and its classes, from any MLflow model URI, folder or ONNX file."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro.io import AbstractDataset, DatasetError

from eurosat_kedro.serving.contract import ServingConfig
from eurosat_kedro.serving.model_card import ModelCard

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

REGISTRY_SCHEME = "models:/"


@dataclass(frozen=True)
class ModelProvenance:
    """Where a served model comes from and how it scored, as far as its source records it;
    None where unknown, never guessed. ``registered_model`` and ``version``: its Model
    Registry version (an alias resolved to its number); ``run_id``: the MLflow run that
    logged it; ``test_accuracy`` and its 95% interval ``test_accuracy_ci`` (low, high): the
    served model's on the test split, in the precision it is served in."""

    registered_model: str | None = None
    version: str | None = None
    run_id: str | None = None
    test_accuracy: float | None = None
    test_accuracy_ci: tuple[float, float] | None = None

    @classmethod
    def scored(cls, scores: Mapping[str, float], **identity: str | None) -> ModelProvenance:
        """``identity`` with the test accuracy and its interval among ``scores``
        (``accuracy``, ``accuracy_ci_low``, ``accuracy_ci_high``: metrics.HEADLINE_FIGURES)."""
        low, high = scores.get("accuracy_ci_low"), scores.get("accuracy_ci_high")
        return cls(
            test_accuracy=scores.get("accuracy"),
            test_accuracy_ci=None if low is None or high is None else (low, high),
            **identity,
        )


def registry_version_reference(uri: str) -> tuple[str, str] | None:
    """The registered model name and the version number or ``@alias`` of
    ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS``; None for any other URI (a logged
    model's ``models:/<model_id>``, a stage or ``latest``, ``runs:/``, another registry's
    ``models://profile@host/...``)."""
    if not uri.startswith(REGISTRY_SCHEME) or uri.startswith(REGISTRY_SCHEME + "/"):
        return None
    path = uri.removeprefix(REGISTRY_SCHEME).rstrip("/")
    name, at, alias = path.partition("@")
    if at:
        return (name, at + alias) if name and alias and "/" not in alias else None
    name, _, version = path.rpartition("/")
    return (name, version) if name and version.isdigit() else None


def _registered_version(name: str, version: str) -> ModelVersion:
    """The Model Registry version ``version`` (a number or ``@alias``) of ``name``."""
    from mlflow import MlflowClient

    client = MlflowClient()
    if version.startswith("@"):
        return client.get_model_version_by_alias(name, version[1:])
    return client.get_model_version(name, version)


@dataclass(frozen=True)
class ServedModel:
    """What inference, mapping and batch inference need of a served model.

    ``model_uri`` is the URI as given; ``mlflow_uri`` is what MLflow (and Spark workers)
    load it by: an absolute folder path or the URI, None for a bare ``.onnx`` file.
    ``params`` names the pyfunc signature's params (``on_error`` for this project's models).
    ``provenance``: its registered version, run and test accuracy, those known.
    """

    onnx_model: bytes
    classes: tuple[str, ...]
    precision: str
    model_uri: str
    mlflow_uri: str | None = None
    params: tuple[str, ...] = ()
    provenance: ModelProvenance = ModelProvenance()


class ServedModelDataset(AbstractDataset[Any, ServedModel]):
    """Load a ``ServedModel`` from ``model_uri``:

    - an MLflow model URI of any store: ``models:/eurosat-landuse@champion``,
      ``models:/eurosat-landuse/3``, ``runs:/<run_id>/mlflow_model``, ``models:/<model_id>``;
    - a local MLflow model folder (what the deployment pipeline writes);
    - an ``.onnx`` file (class names from its metadata), e.g. ``model_int8.onnx``.

    Read-only. A missing model, version or alias is an error naming the URI and
    ``parameter``, the run parameter that chooses it. The provenance comes from the
    registered version (its number and tags) for ``models:/NAME/VERSION`` and
    ``models:/NAME@ALIAS``, from the model's ``config.json`` (the test scores the deployment
    measured) and ``MLmodel`` (the run) otherwise; an ``.onnx`` file has none.
    """

    def __init__(
        self,
        model_uri: str,
        parameter: str = "inference.model_uri",
        metadata: dict[str, Any] | None = None,
    ):
        self._parameter = parameter
        if not model_uri:
            raise DatasetError(
                f"{parameter} is empty: give an MLflow model URI, a model folder or an .onnx file"
            )
        self._uri = str(model_uri)
        self.metadata = metadata

    def load(self) -> ServedModel:
        local = Path(self._uri).expanduser()
        if local.is_file() and local.suffix == ".onnx":
            return self._from_onnx_file(local)
        if (local / "MLmodel").is_file():
            return self._from_folder(local, str(local.resolve()))
        if "://" not in self._uri and ":/" not in self._uri:
            raise DatasetError(
                f"{self._parameter} {self._uri!r} is neither an existing MLflow model folder, "
                "an .onnx file nor an MLflow URI (models:/<name>@<alias>, runs:/<run>/<path>). "
                "Run the deployment pipeline, or check the path."
            )
        import mlflow
        from mlflow.exceptions import MlflowException

        reference = registry_version_reference(self._uri)
        with tempfile.TemporaryDirectory() as tmp:
            try:
                version = _registered_version(*reference) if reference else None
                # an alias resolved once: the files are those of the version described
                source = f"models:/{version.name}/{version.version}" if version else self._uri
                folder = mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=tmp)
            except MlflowException as error:
                raise DatasetError(
                    f"{self._parameter} {self._uri!r} cannot be loaded from the MLflow store "
                    f"{mlflow.get_tracking_uri()}: {error.message} Check the registered model "
                    "name, version or alias (the MLflow UI's Models page lists them)."
                ) from error
            # Spark workers load the same resolved version, even if the alias moves meanwhile
            return self._from_folder(Path(folder), source, version)

    def _from_onnx_file(self, path: Path) -> ServedModel:
        import onnx

        try:
            card = ModelCard.of(onnx.load(str(path), load_external_data=False), str(path))
        except ValueError as error:
            raise DatasetError(str(error)) from error
        return ServedModel(path.read_bytes(), card.classes, card.precision, self._uri)

    def _from_folder(
        self, folder: Path, mlflow_uri: str, version: ModelVersion | None = None
    ) -> ServedModel:
        from mlflow.models import Model

        onnx_path, config_path = (
            folder / "artifacts" / name for name in ("model.onnx", "config.json")
        )
        if not (onnx_path.is_file() and config_path.is_file()):
            raise DatasetError(
                f"{self._uri} is an MLflow model but not this project's served "
                "model (no artifacts/model.onnx and config.json)"
            )
        config = ServingConfig.from_json(json.loads(config_path.read_text()))
        model = Model.load(str(folder))
        params = model.signature.params.params if model.signature and model.signature.params else []
        return ServedModel(
            onnx_model=onnx_path.read_bytes(),
            classes=config.classes,
            precision=config.precision,
            model_uri=self._uri,
            mlflow_uri=mlflow_uri,
            params=tuple(param.name for param in params),
            provenance=_provenance(config, model.run_id, version),
        )

    def save(self, data: Any) -> None:
        raise DatasetError(f"{self._uri} is read-only here: the deployment pipeline writes models")

    def _describe(self) -> dict[str, Any]:
        return {"model_uri": self._uri}


def _provenance(
    config: ServingConfig, run_id: str | None, version: ModelVersion | None
) -> ModelProvenance:
    """A model folder's provenance: its registered ``version``'s name, number, run and
    test-score tags when it was loaded as one, else the run its ``MLmodel`` names; the
    scores its ``config.json`` records where the tags have none."""
    if version is None:
        return ModelProvenance.scored(config.test_scores, run_id=run_id)
    from eurosat_kedro.registry import tagged_scores

    return ModelProvenance.scored(
        {**config.test_scores, **tagged_scores(version.tags)},
        registered_model=version.name,
        version=str(version.version),
        run_id=version.run_id or run_id,
    )
