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
    run_session(project, pipeline="data_processing",
                params={"data.archive_url": tiny_zip.as_uri()})
    report = json.loads((project / "data" / "08_reporting" / "data_report.json").read_text())
    assert [b["path"] for b in report["bad_files"]] == ["Forest/broken.jpg"]
    assert report["usable_images"] == 60


def test_unreachable_source_fails_with_advice(project: Path, tmp_path: Path):
    with pytest.raises(DatasetError, match="no such file.*--env sample"):
        run_session(project, pipeline="data_processing",
                    params={"data.archive_url": str(tmp_path / "missing.zip")})
