"""Extract a zip archive safely (no entry may land outside the target) and only once."""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

logger = logging.getLogger(__name__)

MARKER = ".extracted.json"


class ArchiveError(RuntimeError):
    """The archive is unreadable or unsafe; the message names the archive and the fix."""


def _fingerprint(archive: Path) -> dict:
    info = archive.stat()
    return {"archive": archive.name, "size": info.st_size, "mtime_ns": info.st_mtime_ns}


def _check_members(archive: Path, zf: zipfile.ZipFile) -> None:
    """Refuse absolute paths, ``..`` escapes and symlinks before anything is written."""
    for member in zf.infolist():
        name = member.filename
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
            raise ArchiveError(
                f"{archive}: entry {name!r} would be written outside the extraction folder "
                "(zip-slip). Nothing was extracted. The archive is not the EuroSAT archive or "
                "has been tampered with: fetch it again from a trusted source."
            )
        if stat.S_ISLNK(member.external_attr >> 16):
            raise ArchiveError(
                f"{archive}: entry {name!r} is a symbolic link, which is refused. "
                "Nothing was extracted. Fetch the archive again from a trusted source."
            )


def extract(archive: Path, target: Path) -> Path:
    """Extract ``archive`` into ``target``; a second call with the same archive does nothing.

    Extraction goes to a sibling folder first and is renamed into place, so ``target`` never
    holds half an archive.
    """
    archive, target = Path(archive), Path(target)
    fingerprint = _fingerprint(archive)
    marker = target / MARKER
    if marker.is_file():
        try:
            if json.loads(marker.read_text()) == fingerprint:
                logger.info("%s is already extracted in %s", archive.name, target)
                return target
        except ValueError:
            pass
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with zipfile.ZipFile(archive) as zf:
            _check_members(archive, zf)
            zf.extractall(staging)
    except (zipfile.BadZipFile, EOFError) as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise ArchiveError(
            f"{archive} is not a complete zip archive ({error}). It may be a truncated "
            "download: delete it and run again, or check data.archive_url."
        ) from error
    except ArchiveError:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    (staging / MARKER).write_text(json.dumps(fingerprint))
    if target.exists():
        shutil.rmtree(target)
    os.replace(staging, target)
    logger.info("Extracted %s into %s", archive.name, target)
    return target
