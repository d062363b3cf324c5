"""Lineage: the archive's source read from the archive, the splits logged as MLflow dataset
inputs of a run in a real sqlite store, and the registry tags that point back to them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import mlflow
import numpy as np
import pytest
from kedro.io import DatasetError

from eurosat_kedro import lineage
from eurosat_kedro.datasets import ArchiveSourceDataset
from eurosat_kedro.registry import split_fingerprint
from tests.conftest import tiny_arrays

URL = "https://zenodo.org/records/7711810/files/EuroSAT_RGB.zip"


def _split(n_per_class: int, seed: int) -> dict:
    arrays = tiny_arrays(n_per_class, seed=seed)
    return {**arrays, "paths": np.array([f"{seed}/{i}.jpg" for i in range(len(arrays["labels"]))])}


def test_the_archive_source_is_its_url_sha256_and_dvc_hash(tmp_path: Path):
    archive = tmp_path / "EuroSAT_RGB.zip"
    archive.write_bytes(b"zip bytes")
    (tmp_path / "EuroSAT_RGB.zip.source.json").write_text(json.dumps({"source": URL, "via": "dvc"}))
    (tmp_path / "EuroSAT_RGB.zip.dvc").write_text("outs:\n- md5: abc123\n  path: EuroSAT_RGB.zip\n")
    source = ArchiveSourceDataset(str(archive), url="file:///configured.zip").load()
    assert source == {
        "url": URL,  # where the bytes came from, as the download recorded
        "sha256": hashlib.sha256(b"zip bytes").hexdigest(),
        "size": 9,
        "via": "dvc",
        "dvc_md5": "abc123",
    }


def test_an_archive_fetched_before_any_record_gives_the_configured_url(tmp_path: Path):
    archive = tmp_path / "EuroSAT_RGB.zip"
    archive.write_bytes(b"zip")
    source = ArchiveSourceDataset(str(archive), url=URL).load()
    assert source["url"] == URL and source["via"] == "unknown" and source["dvc_md5"] is None


def test_a_missing_archive_says_which_pipeline_fetches_it(tmp_path: Path):
    with pytest.raises(DatasetError, match=r"missing\.zip is missing.*run the data_processing"):
        ArchiveSourceDataset(str(tmp_path / "missing.zip"), url=URL).load()


def test_splits_are_run_inputs_with_their_fingerprint_source_and_context(tmp_path: Path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    splits = {"train": _split(2, 0), "val": _split(1, 1), "test": _split(1, 2)}
    source = {"url": URL, "sha256": "f" * 64, "dvc_md5": "abc123"}
    try:
        experiment = mlflow.MlflowClient().create_experiment("lineage", str(tmp_path / "mlruns"))
        with mlflow.start_run(experiment_id=experiment) as run:
            digests = lineage.log_splits(splits, source)
        tags = lineage.version_tags_of_run(run.info.run_id)
        inputs = mlflow.MlflowClient().get_run(run.info.run_id).inputs.dataset_inputs
    finally:
        mlflow.set_tracking_uri(previous)
    assert digests == {split: split_fingerprint(a)[:36] for split, a in splits.items()}
    by_name = {i.dataset.name: i for i in inputs}
    assert set(by_name) == {"eurosat-train", "eurosat-val", "eurosat-test"}
    test = by_name["eurosat-test"]
    input_tags = {t.key: t.value for t in test.tags}
    assert input_tags["mlflow.data.context"] == "test"
    assert input_tags["archive_sha256"] == "f" * 64 and input_tags["dvc_md5"] == "abc123"
    assert test.dataset.digest == digests["test"] and URL in test.dataset.source
    assert tags == {
        "data.train_digest": digests["train"],
        "data.val_digest": digests["val"],
        "data.test_digest": digests["test"],
        "data.archive_sha256": "f" * 64,
        "data.archive_url": URL,
        "data.dvc_md5": "abc123",
    }


def test_without_an_active_run_nothing_is_logged():
    assert mlflow.active_run() is None
    assert lineage.log_splits({"test": _split(1, 0)}, {"url": URL}) == {}


@pytest.mark.slow
def test_a_sample_run_lists_its_splits_and_the_registered_version_points_to_them(
    trained_project: Path,
):
    client = mlflow.MlflowClient(f"sqlite:///{trained_project / 'mlflow.db'}")
    report = json.loads(
        (trained_project / "data" / "sample" / "08_reporting" / "registry.json").read_text()
    )
    version = client.get_model_version(report["registered_model"], report["version"])
    inputs = client.get_run(version.run_id).inputs.dataset_inputs
    contexts = {{t.key: t.value for t in i.tags}["mlflow.data.context"]: i.dataset for i in inputs}
    assert set(contexts) == {"training", "validation", "test"}
    assert version.tags["data.test_digest"] == contexts["test"].digest
    assert version.tags["data_fingerprint"].startswith(contexts["test"].digest)
    assert len(version.tags["data.archive_sha256"]) == 64
    assert version.tags["data.archive_url"] == "data/sample/EuroSAT_RGB_sample.zip"
