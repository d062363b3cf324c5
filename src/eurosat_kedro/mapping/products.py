"""The products of ``mapping.scenes``: paths and globs (a list, or one string separated by
spaces), a text file of them, a STAC ItemCollection JSON or a folder of STAC item JSONs. Each
product is something ``open_scene`` opens, and has an id that names its output folder."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from dataclasses import dataclass
from glob import glob, has_magic
from pathlib import Path

from .stac_input import ITEM_IN_COLLECTION, is_stac_item, json_object

HOW_TO_GIVE = (
    'give mapping.scenes: paths or globs separated by spaces ("mapping.scenes=DIR/*.SAFE"), '
    "a .txt file with one per line, a STAC ItemCollection .json or a folder of STAC item .json"
)


class ProductListError(ValueError):
    """``mapping.scenes`` names no product; the message says what was given and the fix."""


@dataclass(frozen=True)
class ProductRef:
    """One product to map: ``scene`` and ``bands`` are what ``open_scene`` opens (a path, or
    ``search.json#ITEM_ID``), ``id`` the name of its output folder."""

    id: str
    scene: str
    bands: object = None


@dataclass(frozen=True)
class MapFolders:
    """Where the maps of many products go: ``root/<product id>/``. ``root`` is absolute, as the
    Spark executors that write there need it (on a cluster: a filesystem they all mount)."""

    root: str

    def of(self, product: ProductRef) -> Path:
        return Path(self.root) / product.id


def _is_item_collection(path: Path) -> bool:
    return (json_object(path) or {}).get("type") == "FeatureCollection"


def _expand(entry: str) -> list[str]:
    """The scenes one entry of ``mapping.scenes`` stands for, as absolute paths (a Spark
    executor's working folder is not the driver's)."""
    path = Path(os.path.abspath(Path(entry).expanduser()))
    if has_magic(entry) and not path.exists():
        found = sorted(glob(str(path)))
        if not found:
            raise ProductListError(f"mapping.scenes {entry!r} matches no file or folder")
        return found
    if path.suffix.lower() == ".txt" and path.is_file():
        lines = [line.strip() for line in path.read_text().splitlines()]
        return [scene for line in lines if line and not line.startswith("#") for scene in
                _expand(line)]  # fmt: skip
    if _is_item_collection(path):
        features = json.loads(path.read_text()).get("features") or []
        ids = [feature.get("id") for feature in features]
        if not ids or not all(isinstance(i, str) and i for i in ids):
            raise ProductListError(f"{path} is an ItemCollection without item ids: {HOW_TO_GIVE}")
        return [f"{path}{ITEM_IN_COLLECTION}{item_id}" for item_id in ids]
    if path.is_dir() and path.suffix.upper() != ".SAFE":
        items = sorted(str(p) for p in path.glob("*.json") if is_stac_item(p))
        return items or [str(path)]  # no items: the folder is a scene (e.g. band files)
    return [str(path)]  # a product or raster; a missing one is reported when it is mapped


def product_name(scene: str) -> str:
    """What a scene is called: the item id of a STAC item, the product of a .SAFE, its .zip
    or its MTD XML, else the file or folder name without its suffix."""
    path = Path(scene)
    head, separator, item_id = scene.rpartition(ITEM_IN_COLLECTION)
    if separator and head.lower().endswith(".json") and not path.exists():
        return item_id
    if is_stac_item(path):
        return str(json.loads(path.read_text())["id"])
    if re.match(r"MTD_MSIL(1C|2A)\.xml$", path.name, re.IGNORECASE):
        path = path.parent
    name = path.name
    for suffix in (".zip", ".SAFE", ".safe"):
        name = name.removesuffix(suffix)
    return name if name != path.name else path.stem


def _folder_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "scene"


def list_products(scenes, bands=None) -> list[ProductRef]:
    """The products of ``mapping.scenes``, in the order given (globs and folders sorted), each
    once, with the ``mapping.bands`` to read. Products whose names clash (``a/scene.tif``,
    ``b/scene.tif``) get the first 8 hex digits of their path's SHA-1 appended, so each keeps
    its folder whatever the order."""
    if not scenes:
        raise ProductListError(
            "Set the products to map: kedro run --pipelines mapping_many --params "
            f'"mapping.scenes=DIR/*.SAFE"; {HOW_TO_GIVE}'
        )
    if isinstance(scenes, str):
        entries = [scenes] if Path(scenes).expanduser().exists() else scenes.split()
    else:
        entries = [str(entry) for entry in scenes]
    found = list(dict.fromkeys(scene for entry in entries for scene in _expand(entry)))
    names = {scene: _folder_name(product_name(scene)) for scene in found}
    counts = Counter(names.values())
    return [
        ProductRef(
            name if counts[name] == 1 else f"{name}-{hashlib.sha1(scene.encode()).hexdigest()[:8]}",
            scene,
            bands,
        )
        for scene, name in names.items()
    ]
