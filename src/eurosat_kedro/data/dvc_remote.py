"""Pull a DVC-tracked file from the configured remote, when there is one."""

from __future__ import annotations

import logging
from pathlib import Path

logger = logging.getLogger(__name__)


def _repo_root(path: Path) -> Path | None:
    for folder in [path.resolve().parent, *path.resolve().parents]:
        if (folder / ".dvc").is_dir():
            return folder
    return None


def try_pull(path: Path) -> bool:
    """``dvc pull`` ``path`` if ``<path>.dvc`` exists and a remote is set; True if it came."""
    path = Path(path)
    dvc_file = path.with_name(path.name + ".dvc")
    root = _repo_root(path)
    if not dvc_file.is_file() or root is None:
        return False
    from dvc.repo import Repo  # imported here: DVC is slow to import and rarely needed

    with Repo(str(root)) as repo:
        if not repo.config.get("remote"):
            logger.info("%s is tracked by DVC but no remote is configured", path)
            return False
        try:
            repo.pull(targets=[str(dvc_file.resolve())])
        except Exception as error:  # noqa: BLE001 - any DVC failure falls back to the URL
            logger.warning("dvc pull of %s failed (%s); fetching from the URL instead", path, error)
            return False
    if path.is_file():
        logger.info("Pulled %s from the DVC remote", path)
        return True
    return False
