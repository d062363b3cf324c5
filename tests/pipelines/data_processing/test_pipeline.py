"""The data_processing pipeline through a KedroSession on the committed sample."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kedro.io import DatasetError

from tests.conftest import CLASSES, run_session


def test_sample_run_indexes_splits_and_caches_every_image(project: Path):
    run_session(project, env="sample", pipeline="data_processing")
    out = project / "data" / "sample"
    report = json.loads((out / "08_reporting" / "data_report.json").read_text())
    assert report["classes"] == CLASSES and report["bad_files"] == []
    assert report["split_sizes"] == {"train": 220, "val": 40, "test": 40}
    splits = pd.read_csv(out / "03_primary" / "image_splits.csv")
    assert splits["path"].is_unique and len(splits) == 300
    arrays = {s: np.load(out / "05_model_input" / f"{s}.npz") for s in ("train", "val", "test")}
    paths = [set(arrays[s]["paths"]) for s in arrays]
    assert not (paths[0] & paths[1] or paths[0] & paths[2] or paths[1] & paths[2])
    assert sum(len(p) for p in paths) == 300
    assert arrays["train"]["images"].shape == (220, 64, 64, 3)
    assert json.loads((out / "02_intermediate" / "classes.json").read_text()) == CLASSES


def test_rerun_gives_an_identical_split(project: Path):
    run_session(project, env="sample", pipeline="data_processing")
    csv = project / "data" / "sample" / "03_primary" / "image_splits.csv"
    first = csv.read_bytes()
    csv.unlink()
    run_session(project, env="sample", pipeline="data_processing")
    assert csv.read_bytes() == first


def test_bad_image_is_reported_and_the_run_goes_on(project: Path, tiny_zip: Path):
    import zipfile

    with zipfile.ZipFile(tiny_zip, "a") as zf:
        zf.writestr("EuroSAT_RGB/Forest/broken.jpg", b"\xff\xd8\xff garbage")
    run_session(project, pipeline="data_processing", params={"data.archive_url": tiny_zip.as_uri()})
    report = json.loads((project / "data" / "08_reporting" / "data_report.json").read_text())
    assert [b["path"] for b in report["bad_files"]] == ["Forest/broken.jpg"]
    assert report["usable_images"] == 60


def test_unreachable_source_fails_with_advice(project: Path, tmp_path: Path):
    with pytest.raises(DatasetError, match="no such file.*--env sample"):
        run_session(
            project,
            pipeline="data_processing",
            params={"data.archive_url": str(tmp_path / "missing.zip")},
        )


def test_pipeline_on_an_in_memory_catalog(image_tree: Path):
    from kedro.io import DataCatalog
    from kedro.runner import SequentialRunner

    from eurosat_kedro.pipelines.data_processing import create_pipeline

    catalog = DataCatalog()
    catalog["raw_images"] = image_tree.parent
    catalog["params:data.classes"] = CLASSES
    catalog["params:data.split.fractions"] = {"train": 0.5, "val": 0.25, "test": 0.25}
    catalog["params:data.split.seed"] = 0
    catalog["archive_source"] = {"url": "file:///tiny.zip", "sha256": "0" * 64}
    outputs = SequentialRunner().run(create_pipeline(), catalog)
    report = outputs["data_report"].load()
    assert sum(report["split_sizes"].values()) == 60 and report["bad_files"] == []
    assert report["source"] == {"url": "file:///tiny.zip", "sha256": "0" * 64}
    for split, fraction in (("train", 0.5), ("val", 0.25), ("test", 0.25)):
        counts = set(report["splits"][split].values())  # stratified: alike in every class
        assert len(counts) == 1 and abs(counts.pop() - 6 * fraction) <= 1, split
    sizes = {
        split: len(outputs[f"{split}_arrays"].load()["labels"])
        for split in ("train", "val", "test")
    }
    assert sizes == report["split_sizes"] and sum(sizes.values()) == 60
