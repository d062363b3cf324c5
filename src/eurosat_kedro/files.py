"""Write a file or folder so that a crash, a full disk or Ctrl-C never leaves half of one."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextmanager
def atomic_path(target: str | Path, suffix: str = "") -> Iterator[Path]:
    """A temporary path beside ``target`` (same folder, so the same filesystem) to write a
    file or a folder to. When the block ends without error it takes ``target``'s place in one
    rename (a folder already there is replaced); when the block fails it is removed and
    ``target`` is left as it was. ``suffix`` ends the temporary name (``np.savez`` wants
    ``.npz``)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp{suffix}")
    _remove(tmp)
    try:
        yield tmp
        if tmp.is_dir() and target.is_dir():
            old = target.with_name(f".{target.name}.{os.getpid()}.old")
            _remove(old)
            os.replace(target, old)
            os.replace(tmp, target)
            _remove(old)
        else:
            os.replace(tmp, target)
    except BaseException:
        _remove(tmp)
        raise
