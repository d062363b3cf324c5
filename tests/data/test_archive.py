"""archive.extract: safe, atomic and idempotent."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest

from eurosat_kedro.data.archive import MARKER, ArchiveError, extract


def test_extracts_and_second_call_does_nothing(tiny_zip: Path, tmp_path: Path):
    target = extract(tiny_zip, tmp_path / "out")
    files = sorted(p for p in target.rglob("*.jpg"))
    assert len(files) == 60 and (target / MARKER).is_file()
    files[0].write_bytes(b"changed")  # a re-extraction would restore it
    extract(tiny_zip, tmp_path / "out")
    assert files[0].read_bytes() == b"changed"


@pytest.mark.parametrize("name", ["../evil.txt", "/abs/evil.txt", "a/../../evil.txt"])
def test_zip_slip_entry_is_refused_before_anything_is_written(tmp_path: Path, name: str):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("EuroSAT_RGB/Forest/ok.jpg", b"x")
        zf.writestr(zipfile.ZipInfo(name), b"owned")
    with pytest.raises(ArchiveError, match="outside the extraction folder.*Nothing was extracted"):
        extract(archive, tmp_path / "out" / "inner")
    assert not (tmp_path / "evil.txt").exists()
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.jpg"))


def test_symlink_entry_is_refused(tmp_path: Path):
    archive = tmp_path / "link.zip"
    info = zipfile.ZipInfo("EuroSAT_RGB/link")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(ArchiveError, match="symbolic link"):
        extract(archive, tmp_path / "out")


def test_truncated_zip_names_the_file_and_the_fix(tiny_zip: Path, tmp_path: Path):
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(tiny_zip.read_bytes()[: tiny_zip.stat().st_size // 2])
    with pytest.raises(ArchiveError, match="truncated.zip is not a complete zip.*delete it"):
        extract(truncated, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()
