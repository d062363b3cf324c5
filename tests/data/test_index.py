"""decode_and_check_images and find_image_root on good and bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eurosat_kedro.data.index import DatasetLayoutError, decode_and_check_images, find_image_root
from tests.conftest import CLASSES, image_bytes


def test_good_tree_is_indexed_and_decoded(image_tree: Path):
    root = find_image_root(image_tree.parent, CLASSES)
    assert root == image_tree
    index, images = decode_and_check_images(root, CLASSES)
    assert len(index) == 60 and index["valid"].all()
    assert images.shape == (60, 64, 64, 3) and images.dtype == np.uint8
    assert list(index["label"].unique()) == list(range(10))
    assert index.loc[0, "path"] == "AnnualCrop/AnnualCrop_1.jpg"
    # each row's pixels are the decoded file's
    from PIL import Image

    row = index.iloc[7]
    assert np.array_equal(images[row["image_row"]], np.asarray(Image.open(root / row["path"])))


@pytest.mark.parametrize(
    ("filename", "content", "problem"),
    [
        ("corrupt.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 50, "not a readable image"),
        ("truncated.jpg", image_bytes()[:300], "cannot decode"),
        ("notes.jpg", b"this is not an image", "not a readable image"),
        ("big.jpg", image_bytes(size=65), "size 65x65, expected 64x64"),
        ("gray.jpg", image_bytes(mode="L"), "mode L, expected RGB"),
        ("rgba.png", image_bytes(mode="RGBA", fmt="PNG"), "mode RGBA, expected RGB"),
    ],
)
def test_bad_file_is_reported_and_kept_out(
    image_tree: Path, filename: str, content: bytes, problem: str
):
    (image_tree / "Forest" / filename).write_bytes(content)
    index, images = decode_and_check_images(image_tree, CLASSES)
    bad = index[~index["valid"]]
    assert list(bad["path"]) == [f"Forest/{filename}"]
    assert problem in bad["problem"].iloc[0]
    assert bad["image_row"].iloc[0] == -1
    assert len(images) == 60


def test_rgb_png_of_the_right_size_is_usable(image_tree: Path):
    (image_tree / "River" / "extra.png").write_bytes(image_bytes(fmt="PNG"))
    index, images = decode_and_check_images(image_tree, CLASSES)
    assert index["valid"].all() and len(images) == 61


def test_missing_class_folder_names_the_expected_classes(image_tree: Path):
    for path in (image_tree / "Pasture").iterdir():
        path.unlink()
    (image_tree / "Pasture").rmdir()
    with pytest.raises(
        DatasetLayoutError, match="missing class folder.*Pasture.*Expected.*AnnualCrop"
    ):
        find_image_root(image_tree.parent, CLASSES)


def test_unknown_class_folder_is_an_error(image_tree: Path):
    (image_tree / "Glacier").mkdir()
    with pytest.raises(DatasetLayoutError, match="unknown folder.*Glacier"):
        find_image_root(image_tree.parent, CLASSES)


def test_no_class_folders_at_all(tmp_path: Path):
    (tmp_path / "whatever").mkdir()
    with pytest.raises(DatasetLayoutError, match="No class folders found.*SeaLake"):
        find_image_root(tmp_path, CLASSES)
