"""Read request images safely: raw or base64 bytes, or paths confined to allowed roots."""

from __future__ import annotations

import base64
import binascii
import io
import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from eurosat_kedro.preprocessing import to_rgb_tile

MAX_BYTES = 20 * 1024 * 1024


class ImageInputError(ValueError):
    """One input image is unusable; the message says which problem."""


MAX_PATH_CHARS = 4096  # PATH_MAX on Linux


def resolve_allowed(path: str, allowed_roots: list[Path] | None) -> Path:
    """``path`` resolved (``..`` and symlinks); refused unless under an allowed root."""
    if len(path) > MAX_PATH_CHARS:
        raise ImageInputError(
            f"image_path is {len(path)} characters long, more than the "
            f"{MAX_PATH_CHARS} a path may have"
        )
    if "\0" in path:
        raise ImageInputError(f"image_path {path!r} contains a NUL byte, which no path may hold")
    try:
        resolved = Path(path).expanduser().resolve(strict=False)
        if allowed_roots is not None and not any(resolved.is_relative_to(r) for r in allowed_roots):
            raise ImageInputError(
                f"image_path {path!r} is outside the allowed roots "
                f"({', '.join(str(r) for r in allowed_roots)}); send the image as image_b64 "
                "instead"
            )
        if not resolved.is_file():
            raise ImageInputError(f"image_path {path!r}: no such file")
    except (OSError, RuntimeError) as error:  # a symlink loop, a too-long name, no permission
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise ImageInputError(f"image_path {path!r} cannot be read: {reason}") from error
    return resolved


def decode(data: bytes) -> np.ndarray:
    """Image bytes -> uint8 ``(64, 64, 3)``; ImageInputError for anything unusable."""
    if len(data) > MAX_BYTES:
        raise ImageInputError(f"image is {len(data)} bytes, more than {MAX_BYTES} allowed")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                return to_rgb_tile(image)  # checks MAX_PIXELS before decoding
    except UnidentifiedImageError as error:
        raise ImageInputError("not an image (unknown format or corrupt header)") from error
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageInputError(f"decompression bomb refused: {error}") from error
    except (OSError, SyntaxError) as error:
        raise ImageInputError(f"cannot decode image: {error}") from error
    except ValueError as error:  # to_rgb_tile's pixel limit, or a malformed image
        raise ImageInputError(str(error)) from error


def read_b64(text: str) -> np.ndarray:
    """base64 text -> uint8 ``(64, 64, 3)``. Also taken: a data URL
    (``data:image/jpeg;base64,...``, what a browser's FileReader gives) and base64 wrapped in
    lines of ``WRAP_WIDTHS`` characters (what ``base64`` and MIME, or PEM, print)."""
    if isinstance(text, str):
        text = _unwrap(_strip_data_url(text))
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError, TypeError) as error:
        raise ImageInputError(f"image_b64 is not valid base64 ({error})") from error
    return decode(data)


# base64 wrapped in lines: 76 characters (`base64`, MIME, Python's encodebytes), 64 (PEM, openssl)
WRAP_WIDTHS = (76, 64)
# a data URL's head: ``data:[<media type>][;<name>=<value>]*;base64,`` (RFC 2397)
DATA_URL = re.compile(r"data:[^,;]*(?:;[^,;=]+=[^,;]*)*;base64,", re.IGNORECASE)


def _strip_data_url(text: str) -> str:
    """The base64 part of a data URL; other text unchanged."""
    if text[:5].lower() != "data:":
        return text
    head = DATA_URL.match(text)
    if head is None:
        raise ImageInputError(
            f"image_b64 is a data URL without ';base64,' ({text[:40]!r}...); send the image "
            "base64-encoded, e.g. as FileReader.readAsDataURL gives it"
        )
    return text[head.end() :]


def _unwrap(text: str) -> str:
    """base64 wrapped in lines of one of ``WRAP_WIDTHS`` (LF or CRLF, a final line break or
    not), or one line ending in a line break, joined into one line; anything else unchanged,
    for base64 to refuse."""
    if "\n" not in text:
        return text
    lines = text.replace("\r\n", "\n").removesuffix("\n").split("\n")
    width = len(lines[0])
    if len(lines) == 1 or (
        width in WRAP_WIDTHS
        and all(len(line) == width for line in lines[:-1])
        and 0 < len(lines[-1]) <= width
    ):
        return "".join(lines)
    return text


def read_bytes(data: bytes | bytearray | memoryview) -> np.ndarray:
    """Raw file bytes (e.g. Spark's ``binaryFile`` content) -> uint8 ``(64, 64, 3)``."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ImageInputError(f"image_bytes must be bytes, got {type(data).__name__}")
    if len(data) == 0:
        raise ImageInputError("image_bytes is empty (a 0-byte file)")
    return decode(bytes(data))


def read_path(path: str, allowed_roots: list[Path] | None) -> np.ndarray:
    """A file (confined to ``allowed_roots`` unless None) -> uint8 ``(64, 64, 3)``."""
    resolved = resolve_allowed(path, allowed_roots)
    try:  # a file can be unreadable, fail to read, or vanish after the checks above
        if resolved.stat().st_size > MAX_BYTES:
            raise ImageInputError(f"image_path {path!r} is larger than {MAX_BYTES} bytes")
        data = resolved.read_bytes()
    except OSError as error:
        raise ImageInputError(
            f"image_path {path!r} cannot be read: {error.strerror or error}"
        ) from error
    return decode(data)
