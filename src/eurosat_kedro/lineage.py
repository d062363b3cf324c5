"""Which data a run trained and tested on, as MLflow dataset inputs (the run's Datasets tab):
each split with its fingerprint as digest, the archive it was made from (URL, sha256, DVC
hash), and the context it was used in; and the registry tags that point back to them."""

from __future__ import annotations

import logging

from eurosat_kedro.registry import split_fingerprint

logger = logging.getLogger(__name__)

CONTEXTS = {"train": "training", "val": "validation", "test": "test"}
# MLflow keeps digests of at most 36 characters (mlflow.utils.validation.MAX_DATASET_DIGEST_SIZE)
DIGEST_CHARS = 36
SOURCE_TAGS = {"sha256": "archive_sha256", "dvc_md5": "dvc_md5", "url": "archive_url"}


def split_digest(arrays: dict) -> str:
    """The split fingerprint (``registry.split_fingerprint``) as an MLflow digest."""
    return split_fingerprint(arrays)[:DIGEST_CHARS]


def log_splits(splits: dict[str, dict], source: dict | None) -> dict[str, str]:
    """Log ``splits`` (``train`` / ``val`` / ``test`` -> arrays) as inputs of the active MLflow
    run, from ``source`` (the data report's ``source``); return split -> digest. Without an
    active run (tracking off, a test), nothing is logged and nothing is returned."""
    import mlflow

    if mlflow.active_run() is None:
        logger.info("No active MLflow run: the splits' lineage is not logged")
        return {}
    if not source:
        logger.warning(
            "The data report records no source archive (made by an earlier version): the "
            "splits are logged without it; rerun the data_processing pipeline to record it"
        )
    source = source or {}
    tags = {name: str(source[key]) for key, name in SOURCE_TAGS.items() if source.get(key)}
    datasets, digests = [], {}
    for split, arrays in splits.items():
        digests[split] = split_digest(arrays)
        datasets.append(
            mlflow.data.from_numpy(
                arrays["images"],
                source=source.get("url"),
                targets=arrays["labels"],
                name=f"eurosat-{split}",
                digest=digests[split],
            )
        )
    mlflow.log_inputs(
        datasets, contexts=[CONTEXTS[split] for split in splits], tags_list=[tags] * len(splits)
    )
    logger.info("Logged the lineage of %s to MLflow: %s", ", ".join(splits), digests)
    return digests


def version_tags_of_run(run_id: str) -> dict[str, str]:
    """Registry version tags that point to the data run ``run_id`` logged:
    ``data.<split>_digest`` per split, ``data.archive_sha256``, ``data.archive_url`` and
    ``data.dvc_md5`` when recorded. Empty for a run that logged no splits (e.g. a deployment
    run on its own)."""
    from mlflow import MlflowClient

    splits = {context: split for split, context in CONTEXTS.items()}
    tags: dict[str, str] = {}
    for dataset_input in MlflowClient().get_run(run_id).inputs.dataset_inputs:
        input_tags = {tag.key: tag.value for tag in dataset_input.tags}
        split = splits.get(input_tags.get("mlflow.data.context", ""))
        if split is None:
            continue
        tags[f"data.{split}_digest"] = dataset_input.dataset.digest
        for name in SOURCE_TAGS.values():
            if name in input_tags:
                tags[f"data.{name}"] = input_tags[name]
    return tags
