"""A real DVC round trip with a temporary local remote: add, push, delete, pull through the
raw_images dataset, and the index is unchanged."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from eurosat_kedro.data.archive import extract
from eurosat_kedro.data.index import decode_and_check_images, find_image_root
from eurosat_kedro.datasets import DownloadedArchiveDataset
from tests.conftest import CLASSES


def _dvc(cwd: Path, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=cwd, check=True, capture_output=True, text=True
    )


def test_dvc_add_push_delete_pull_gives_the_same_index(tmp_path: Path, tiny_zip: Path, monkeypatch):
    repo = tmp_path / "repo"
    raw = repo / "data" / "01_raw" / "EuroSAT_RGB.zip"
    raw.parent.mkdir(parents=True)
    shutil.copy(tiny_zip, raw)
    monkeypatch.chdir(repo)
    _dvc(repo, "init", "--no-scm", "-q")
    _dvc(repo, "config", "core.analytics", "false")
    _dvc(repo, "add", "data/01_raw/EuroSAT_RGB.zip")
    _dvc(repo, "remote", "add", "-d", "local", str(tmp_path / "remote"))
    _dvc(repo, "push")
    before = decode_and_check_images(
        find_image_root(extract(raw, tmp_path / "a"), CLASSES), CLASSES
    )[0]

    raw.unlink()
    shutil.rmtree(repo / ".dvc" / "cache")
    # the URL cannot be reached: the bytes can only come from the DVC remote
    dataset = DownloadedArchiveDataset(
        filepath=str(tmp_path / "b"),
        archive_path=str(raw),
        url=str(tmp_path / "not-there.zip"),
        retries=1,
    )
    after = decode_and_check_images(find_image_root(dataset.load(), CLASSES), CLASSES)[0]
    assert raw.read_bytes() == tiny_zip.read_bytes()
    assert after.equals(before)
