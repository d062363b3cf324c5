"""Fetch a file from an http(s) URL, a ``file://`` URL or a local path.

Resumable, verified against a sha256, written atomically.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlparse

import requests
import urllib3
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
STREAM_CHUNK_BYTES = 1 << 16  # small, so a dropped connection loses little
HINT = (
    "Point the parameter data.archive_url at a local copy, e.g. "
    '`kedro run --params "data.archive_url=/abs/path/to/EuroSAT_RGB.zip"`, '
    "or run the bundled offline sample with `kedro run --env sample`."
)


class DownloadError(RuntimeError):
    """The source could not be fetched; the message says why and what to do."""


class ChecksumError(DownloadError):
    """The fetched bytes do not match the expected sha256."""


class _ShortRead(OSError):
    """The stream ended before the announced size; the next attempt resumes."""


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def local_path_of(source: str) -> Path | None:
    """The local file a ``file://`` URL or plain path names; None for http(s) URLs."""
    parsed = urlparse(source)
    if parsed.scheme in ("http", "https"):
        return None
    if parsed.scheme == "file":
        return Path(unquote(parsed.netloc + parsed.path))
    if parsed.scheme and len(parsed.scheme) > 1:
        raise DownloadError(
            f"Unsupported URL scheme {parsed.scheme!r} in {source!r}: use http(s)://, "
            f"file:// or a local path. {HINT}"
        )
    return Path(source).expanduser()


def _sidecar(dest: Path) -> Path:
    return dest.with_name(dest.name + ".source.json")


def is_current(dest: Path, source: str, sha256: str | None) -> bool:
    """Whether ``dest`` already holds the verified bytes of ``source`` (so no fetch is needed)."""
    if not dest.is_file():
        return False
    if sha256:
        return sha256_of(dest) == sha256.lower()
    try:
        recorded = json.loads(_sidecar(dest).read_text())
    except (OSError, ValueError):
        return False
    return recorded.get("source") == source and recorded.get("size") == dest.stat().st_size


def record_source(dest: Path, source: str, via: str = "url") -> None:
    """Remember where ``dest`` came from, so an unchanged source is not fetched again."""
    record = {"source": source, "size": dest.stat().st_size, "via": via}
    _sidecar(dest).write_text(json.dumps(record))


def verify(path: Path, sha256: str | None, source: str) -> None:
    """Raise ChecksumError unless ``path`` has the expected sha256 (no check when None)."""
    if not sha256:
        return
    actual = sha256_of(path)
    if actual != sha256.lower():
        raise ChecksumError(
            f"{source} has sha256 {actual}, expected {sha256.lower()} (data.archive_sha256). "
            "The download is corrupt or the source is a different file: fetch it again, or, "
            "if you trust this file, set data.archive_sha256 to its sha256 (or null)."
        )


def _open_stream(source: str, offset: int, timeout: float) -> tuple[BinaryIO, int | None, bool]:
    """Open ``source`` at byte ``offset``: (stream, total size or None, whether it resumed)."""
    local = local_path_of(source)
    if local is not None:
        if not local.is_file():
            raise DownloadError(f"Archive source {source!r}: no such file {local}. {HINT}")
        handle = open(local, "rb")  # noqa: SIM115 - closed by the caller
        size = local.stat().st_size
        if offset > size:
            offset = 0
        handle.seek(offset)
        return handle, size, offset > 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    response = requests.get(source, stream=True, timeout=timeout, headers=headers)
    if response.status_code == 416:  # range past the end: start again
        response.close()
        return _open_stream(source, 0, timeout)
    if response.status_code >= 500:  # server trouble: worth another attempt
        response.close()
        raise requests.HTTPError(f"HTTP {response.status_code}")
    if response.status_code >= 400:
        response.close()
        raise DownloadError(f"{source} answered HTTP {response.status_code}. {HINT}")
    resumed = response.status_code == 206
    length = response.headers.get("Content-Length")
    total = (int(length) + (offset if resumed else 0)) if length else None
    response.raw.decode_content = True
    return response.raw, total, resumed


def fetch(
    source: str,
    dest: Path,
    sha256: str | None = None,
    *,
    retries: int = 5,
    timeout: float = 30.0,
    backoff: float = 1.0,
) -> Path:
    """Fetch ``source`` into ``dest`` unless it is already there and verified.

    Bytes go to ``dest.part`` first (kept between attempts so a retry resumes where the last
    one stopped), are checked against ``sha256`` when given, then moved into place atomically.
    """
    dest = Path(dest)
    if is_current(dest, source, sha256):
        logger.info("%s is present and verified; not fetching it again", dest)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    last_error: Exception | None = None
    for attempt in range(1, retries + 1):
        offset = part.stat().st_size if part.exists() else 0
        try:
            stream, total, resumed = _open_stream(source, offset, timeout)
            with (
                stream,
                open(part, "ab" if resumed else "wb") as out,
                tqdm(
                    total=total,
                    initial=offset if resumed else 0,
                    unit="B",
                    unit_scale=True,
                    desc=f"fetch {dest.name}",
                    disable=None,
                ) as bar,
            ):
                while chunk := stream.read(STREAM_CHUNK_BYTES):
                    out.write(chunk)
                    bar.update(len(chunk))
            if total is not None and part.stat().st_size != total:
                raise _ShortRead(f"got {part.stat().st_size} of {total} bytes")
            break
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as error:
            last_error = error
        if attempt < retries:
            logger.warning(
                "Fetching %s failed (%s); retry %d/%d", source, last_error, attempt, retries - 1
            )
            time.sleep(backoff * attempt)
    else:
        raise DownloadError(
            f"Could not fetch {source} after {retries} attempts ({last_error}). {HINT}"
        ) from last_error

    try:
        verify(part, sha256, source)
    except ChecksumError:
        part.unlink()
        raise
    os.replace(part, dest)
    record_source(dest, source)
    logger.info("Fetched %s to %s (%.1f MB)", source, dest, dest.stat().st_size / 1e6)
    return dest
