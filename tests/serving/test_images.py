"""serving/images.py: request images read safely, each refusal named, without a server."""

from __future__ import annotations

import base64
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from eurosat_kedro.serving import images
from eurosat_kedro.serving.images import (
    MAX_PATH_CHARS,
    ImageInputError,
    decode,
    read_b64,
    read_bytes,
    read_path,
    resolve_allowed,
)
from tests.conftest import image_bytes


def _png(size: tuple[int, int] = (64, 64), mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, 128).save(buffer, format="PNG")
    return buffer.getvalue()


def _png_claiming(width: int, height: int) -> bytes:
    """A 64x64 PNG whose header says ``width`` x ``height``: what a decompression bomb's
    header looks like, without the bomb."""
    data = bytearray(_png())
    start = 8 + 8  # signature, then the IHDR chunk's length and type
    data[start : start + 8] = struct.pack(">II", width, height)
    ihdr = bytes(data[start - 4 : start + 13])
    data[start + 13 : start + 17] = struct.pack(">I", zlib.crc32(ihdr))
    return bytes(data)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An allowed root holding ``tile.jpg``, beside an ``outside`` folder holding ``secret.jpg``."""
    allowed = tmp_path.resolve() / "allowed"
    allowed.mkdir()
    (allowed / "tile.jpg").write_bytes(image_bytes())
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.jpg").write_bytes(image_bytes(seed=1))
    return allowed


# ---------------------------------------------------------------- paths


def test_a_file_under_an_allowed_root_is_resolved(root: Path):
    assert resolve_allowed(str(root / "tile.jpg"), [root]) == root / "tile.jpg"


def test_a_relative_path_is_read_from_the_working_directory(root: Path, monkeypatch):
    monkeypatch.chdir(root)
    assert resolve_allowed("tile.jpg", [root]) == root / "tile.jpg"
    np.testing.assert_array_equal(read_path("tile.jpg", [root]), decode(image_bytes()))


def test_any_of_several_roots_allows(root: Path):
    other = root.parent / "outside"
    assert resolve_allowed(str(other / "secret.jpg"), [root, other]) == other / "secret.jpg"


def test_no_roots_given_allows_any_file(root: Path):
    secret = root.parent / "outside" / "secret.jpg"
    assert resolve_allowed(str(secret), None) == secret


@pytest.mark.parametrize(
    "path",
    [
        "{root}/../outside/secret.jpg",  # `..` out of the root
        "{root}/../../../../../../../../etc/passwd",
        "{root}2/tile.jpg",  # a sibling folder whose name starts with the root's
        "/etc/passwd",
    ],
)
def test_paths_escaping_the_roots_are_refused(root: Path, path: str):
    (root.parent / "allowed2").mkdir()
    (root.parent / "allowed2" / "tile.jpg").write_bytes(image_bytes())
    path = path.format(root=root)
    with pytest.raises(ImageInputError, match="is outside the allowed roots.*as image_b64"):
        resolve_allowed(path, [root])


def test_a_symlink_leaving_the_root_is_refused(root: Path):
    (root / "link.jpg").symlink_to(root.parent / "outside" / "secret.jpg")
    (root / "linked_folder").symlink_to(root.parent / "outside")
    for name in ("link.jpg", "linked_folder/secret.jpg"):
        with pytest.raises(ImageInputError, match=f"{name}' is outside the allowed roots"):
            read_path(str(root / name), [root])


def test_a_symlink_within_the_root_is_followed(root: Path):
    (root / "sub").mkdir()
    (root / "sub" / "link.jpg").symlink_to(root / "tile.jpg")
    assert resolve_allowed(str(root / "sub" / "link.jpg"), [root]) == root / "tile.jpg"


def test_a_symlink_loop_is_refused_by_name(root: Path):
    (root / "a").symlink_to(root / "b")
    (root / "b").symlink_to(root / "a")
    # Python < 3.13 reports the loop while resolving; later ones leave the path unresolvable
    with pytest.raises(ImageInputError, match=r"image_path '.*/a' (cannot be read|: no such file)"):
        resolve_allowed(str(root / "a"), [root])


def test_a_nul_byte_is_refused_before_touching_the_file_system(root: Path):
    with pytest.raises(ImageInputError, match=r"contains a NUL byte, which no path may hold"):
        resolve_allowed(f"{root}/tile.jpg\0.png", [root])


def test_a_path_longer_than_path_max_is_refused(root: Path):
    path = str(root / ("x" * MAX_PATH_CHARS))
    with pytest.raises(ImageInputError, match=f"is {len(path)} characters long, more than the"):
        resolve_allowed(path, [root])


def test_a_name_longer_than_the_file_system_allows_cannot_be_read(root: Path):
    with pytest.raises(ImageInputError, match="cannot be read: File name too long"):
        resolve_allowed(str(root / ("x" * 300)), [root])


@pytest.mark.parametrize("name", ["missing.jpg", "."])
def test_a_missing_file_or_a_folder_is_no_such_file(root: Path, name: str):
    with pytest.raises(ImageInputError, match=f"image_path '{root / name}': no such file"):
        resolve_allowed(str(root / name), [root])


def test_a_file_over_max_bytes_is_refused_from_its_size(root: Path, monkeypatch):
    monkeypatch.setattr(images, "MAX_BYTES", 100)
    with pytest.raises(ImageInputError, match=r"tile.jpg' is larger than 100 bytes"):
        read_path(str(root / "tile.jpg"), [root])


# ---------------------------------------------------------------- bytes and base64


def test_bytes_base64_and_path_give_the_same_tile(root: Path):
    data = (root / "tile.jpg").read_bytes()
    tile = read_path(str(root / "tile.jpg"), [root])
    assert tile.shape == (64, 64, 3) and tile.dtype == np.uint8
    np.testing.assert_array_equal(read_bytes(data), tile)
    np.testing.assert_array_equal(read_bytes(bytearray(data)), tile)
    np.testing.assert_array_equal(read_bytes(memoryview(data)), tile)
    np.testing.assert_array_equal(read_b64(base64.b64encode(data).decode()), tile)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", r"image_bytes is empty \(a 0-byte file\)"),
        ("text", "image_bytes must be bytes, got str"),
        (None, "image_bytes must be bytes, got NoneType"),
        (b"not an image", r"not an image \(unknown format or corrupt header\)"),
        (image_bytes()[:200], "cannot decode image: "),  # Pillow words it per format
    ],
)
def test_unusable_bytes_are_named(data, message):
    with pytest.raises(ImageInputError, match=message):
        read_bytes(data)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not base64!", "image_b64 is not valid base64"),
        ("QUJ", "image_b64 is not valid base64"),  # missing padding
        ("aGVs\nbG8=", "image_b64 is not valid base64"),  # validate=True: no line breaks
        ("é", "image_b64 is not valid base64"),  # not ASCII
        (None, "image_b64 is not valid base64"),
        (base64.b64encode(b"hello").decode(), "not an image"),
        ("", "not an image"),
    ],
)
def test_bad_base64_is_named(text, message):
    with pytest.raises(ImageInputError, match=message):
        read_b64(text)


def _wrapped(data: bytes, width: int, newline: str = "\n", final: bool = True) -> str:
    """base64 of ``data`` in lines of ``width`` characters, as `base64` (76) or PEM (64) print."""
    text = base64.b64encode(data).decode()
    lines = [text[i : i + width] for i in range(0, len(text), width)]
    return newline.join(lines) + (newline if final else "")


@pytest.mark.parametrize(
    "head",
    [
        "data:image/jpeg;base64,",  # what FileReader.readAsDataURL gives for a JPEG
        "data:image/png;base64,",  # the media type is not trusted: the bytes decide
        "DATA:image/jpeg;base64,",
        "data:application/octet-stream;base64,",  # FileReader, for a type it does not know
        "data:image/jpeg;name=tile.jpg;base64,",  # with a parameter (RFC 2397)
        "data:;base64,",
    ],
)
def test_a_data_url_is_read_like_its_base64(head: str):
    data = image_bytes()
    np.testing.assert_array_equal(read_b64(head + base64.b64encode(data).decode()), decode(data))


@pytest.mark.parametrize(
    "text",
    [
        "data:image/jpeg,%FF%D8",  # a data URL, percent-encoded instead of base64
        "data:image/jpeg;charset=x",  # no comma at all
    ],
)
def test_a_data_url_without_base64_is_named(text: str):
    with pytest.raises(ImageInputError, match=r"image_b64 is a data URL without ';base64,'"):
        read_b64(text)


def test_a_data_url_with_bad_base64_is_named():
    with pytest.raises(ImageInputError, match="image_b64 is not valid base64"):
        read_b64("data:image/jpeg;base64,not base64!")


@pytest.mark.parametrize(
    ("width", "newline", "final"),
    [
        (76, "\n", True),  # `base64 IMAGE.jpg`
        (76, "\n", False),  # the same through $(...), which drops the last line break
        (76, "\r\n", True),  # MIME
        (64, "\n", True),  # PEM, `openssl base64`
    ],
)
def test_base64_wrapped_in_lines_is_read(width: int, newline: str, final: bool):
    data = image_bytes(size=200)  # several lines
    text = _wrapped(data, width, newline, final)
    assert text.count("\n") >= 3
    np.testing.assert_array_equal(read_b64(text), decode(data))
    np.testing.assert_array_equal(read_b64("data:image/jpeg;base64," + text), decode(data))


def test_one_line_ending_in_a_line_break_is_read():
    data = image_bytes()
    np.testing.assert_array_equal(read_b64(base64.b64encode(data).decode() + "\n"), decode(data))


@pytest.mark.parametrize(
    "text",
    [
        _wrapped(image_bytes(size=200), 60),  # a width no encoder uses
        _wrapped(image_bytes(size=200), 76).replace("\n", "\n\n", 1),  # a blank line
        _wrapped(image_bytes(size=200), 76)[:100] + "\n" + _wrapped(image_bytes(size=200), 76),
    ],
)
def test_other_line_breaks_are_still_refused(text: str):
    with pytest.raises(ImageInputError, match="image_b64 is not valid base64"):
        read_b64(text)


def test_more_than_max_bytes_is_refused_before_opening(monkeypatch):
    monkeypatch.setattr(images, "MAX_BYTES", 100)
    with pytest.raises(ImageInputError, match=r"image is \d+ bytes, more than 100 allowed"):
        decode(image_bytes())


@pytest.mark.parametrize(
    ("width", "height", "message"),
    [
        (5000, 5000, "is 5000x5000 pixels, more than the 16777216 allowed"),  # ours
        (10000, 10000, "decompression bomb refused: Image size .* could be"),  # Pillow's warning
        (20000, 20000, "decompression bomb refused: Image size .* exceeds limit"),  # its error
    ],
)
def test_decompression_bombs_are_refused_from_the_header(width, height, message):
    with pytest.raises(ImageInputError, match=message):
        decode(_png_claiming(width, height))


def test_a_tiny_image_is_refused():
    with pytest.raises(ImageInputError, match="is 8x8 pixels: too small to classify"):
        decode(_png((8, 8)))


@pytest.mark.parametrize(
    ("mode", "fmt"), [("L", "PNG"), ("RGBA", "PNG"), ("P", "PNG"), ("CMYK", "JPEG")]
)
def test_8bit_modes_decode_to_rgb(mode, fmt):
    tile = decode(image_bytes(mode=mode, fmt=fmt))
    assert tile.shape == (64, 64, 3) and tile.dtype == np.uint8


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_16bit_images_are_refused(fmt):
    buffer = io.BytesIO()
    Image.fromarray(np.full((64, 64), 3000, np.uint16)).save(buffer, format=fmt)
    with pytest.raises(ImageInputError, match="image mode I;16 has more than 8 bits a channel"):
        decode(buffer.getvalue())


def test_other_sizes_are_resized():
    assert decode(_png((200, 100))).shape == (64, 64, 3)


def test_read_path_refuses_before_decoding(root: Path):
    (root / "notes.jpg").write_text("not an image")
    with pytest.raises(ImageInputError, match="not an image"):
        read_path(str(root / "notes.jpg"), [root])


def test_a_file_that_fails_to_read_is_an_image_input_error_not_an_os_error():
    # /proc/self/mem: present, but reading it from the start fails with EIO
    with pytest.raises(ImageInputError, match="'/proc/self/mem' cannot be read"):
        read_path("/proc/self/mem", None)
