"""atomic_path: a file or folder appears whole or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from eurosat_kedro.files import atomic_path


def test_a_file_replaces_the_old_one_only_when_written(tmp_path: Path):
    target = tmp_path / "sub" / "a.txt"
    with atomic_path(target) as tmp:
        tmp.write_text("one")
        assert not target.exists()
    assert target.read_text() == "one"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "one" and sorted(p.name for p in target.parent.iterdir()) == [
        "a.txt"
    ]


def test_a_folder_replaces_the_old_folder_whole(tmp_path: Path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "new.txt").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no temporary or old copy left


def test_the_suffix_ends_the_temporary_name(tmp_path: Path):
    with atomic_path(tmp_path / "a.npz", suffix=".npz") as tmp:
        assert tmp.name.endswith(".npz") and tmp.parent == tmp_path
        tmp.write_bytes(b"x")
