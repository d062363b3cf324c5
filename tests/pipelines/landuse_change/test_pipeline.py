"""`kedro run --pipelines landuse_change` on two mosaics of real sample tiles where known tiles
changed, on a map of the mapping pipeline with masked and uncertain cells, on shifted and
distant grids, and on a real multi-date Sentinel-2 patch."""

from __future__ import annotations

import io
import json
import logging
import shutil
import zipfile
from collections import Counter
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pystac
import pytest
import rasterio
from kedro.config import OmegaConfigLoader
from kedro.framework.project import pipelines
from kedro.framework.startup import bootstrap_project
from kedro.io import DatasetError
from PIL import Image
from rasterio import Affine

from eurosat_kedro.datasets import GeoTiffDataset, ServedModelDataset
from eurosat_kedro.mapping import CLASS_MASKED, CLASS_NODATA, CLASS_UNCERTAIN, open_scene
from eurosat_kedro.mapping.change import CHANGE_LOW_CONFIDENCE, ChangeError
from eurosat_kedro.pipelines.mapping.nodes import choose_stretch, classify_scene
from eurosat_kedro.serving.classifier import OnnxClassifier
from eurosat_kedro.serving.predict import softmax
from eurosat_kedro.settings import CONFIG_LOADER_ARGS
from tests.conftest import PROJECT_ROOT, SAMPLE_ZIP, run_session
from tests.mapping.conftest import write_tif

SCENE_ORIGIN = Affine.translation(500000, 5200000) @ Affine.scale(10, -10)
SIDE = 4  # tiles a side of a mosaic
# the later mosaic: tiles 0 and 1 swapped, and three tiles replaced by another class's
SWAPPED = (0, 1)
REPLACED = {6: "SeaLake", 11: "Residential", 12: "Forest"}
SLOVENIA = PROJECT_ROOT.parent / "shared" / "data" / "sentinel2" / "L1C_slovenia_2015_multidate"
OUTPUTS = [
    "landuse_change.tif",
    "landuse_change_confidence.tif",
    "landuse_transitions.csv",
    "landuse_change_report.json",
    "landuse_change.stac.json",
    "landuse_change.png",
]


def _outputs(project: Path) -> Path:
    return project / "data" / "sample" / "07_model_output"


def _sample_tiles(per_class: int = 2) -> dict[str, list[np.ndarray]]:
    """The first ``per_class`` real tiles of each class of the committed sample."""
    tiles: dict[str, list[np.ndarray]] = {}
    with zipfile.ZipFile(SAMPLE_ZIP) as archive:
        for name in sorted(n for n in archive.namelist() if n.endswith(".jpg")):
            kind = tiles.setdefault(name.split("/")[-2], [])
            if len(kind) < per_class:
                kind.append(np.asarray(Image.open(io.BytesIO(archive.read(name))).convert("RGB")))
    return tiles


def _write_mosaic(path: Path, tiles: np.ndarray, transform: Affine = SCENE_ORIGIN) -> Path:
    rows = [np.concatenate(list(tiles[r * SIDE : (r + 1) * SIDE]), axis=1) for r in range(SIDE)]
    return write_tif(path, np.concatenate(rows).transpose(2, 0, 1), transform=transform)


@pytest.fixture(scope="module")
def dates(tmp_path_factory) -> dict[str, tuple[Path, np.ndarray]]:
    """Two 4x4 mosaics of real sample tiles (classes in turn), 10 m pixels in UTM 33N: the
    later one with ``SWAPPED`` tiles swapped and ``REPLACED`` tiles of other classes."""
    tiles = _sample_tiles()
    classes = sorted(tiles)
    before = np.stack([tiles[classes[i % 10]][i // 10] for i in range(SIDE * SIDE)])
    after = before.copy()
    after[list(SWAPPED)] = before[list(reversed(SWAPPED))]
    for i, kind in REPLACED.items():
        after[i] = tiles[kind][1]
    folder = tmp_path_factory.mktemp("dates")
    return {
        "before": (_write_mosaic(folder / "before.tif", before), before),
        "after": (_write_mosaic(folder / "after.tif", after), after),
    }


def _served(project: Path) -> tuple[OnnxClassifier, list[str]]:
    model = ServedModelDataset(
        str(project / "data" / "sample" / "06_models" / "mlflow_model")
    ).load()
    return OnnxClassifier(model.onnx_model, list(model.classes)), list(model.classes)


def _predict(project: Path, tiles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The served model's class and top probability of each tile, as 4x4 maps."""
    probabilities = softmax(_served(project)[0].logits(tiles))
    shape = (SIDE, SIDE)
    return probabilities.argmax(axis=1).reshape(shape), probabilities.max(axis=1).reshape(shape)


def _codes(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """The documented change codes: 100 + class where unchanged, from * 10 + to where not."""
    return np.where(before == after, 100 + before, 10 * before + after)


def _change(project: Path, before, after, **params) -> dict:
    run_session(
        project,
        env="sample",
        pipeline="landuse_change",
        params={
            "change.before": str(before),
            "change.after": str(after),
            "mapping.min_confidence": "null",
            **params,
        },
    )
    out = _outputs(project)
    with rasterio.open(out / "landuse_change.tif") as src:
        codes, profile = src.read(1), {"transform": src.transform, "tags": src.tags()}
    with rasterio.open(out / "landuse_change_confidence.tif") as src:
        confidence = src.read(1)
    return {
        "codes": codes,
        "profile": profile,
        "confidence": confidence,
        "table": pd.read_csv(out / "landuse_transitions.csv"),
        "report": json.loads((out / "landuse_change_report.json").read_text()),
        "stac": pystac.Item.from_file(str(out / "landuse_change.stac.json")),
    }


def _moved(table: pd.DataFrame) -> Counter:
    """The table's (from, to) pairs with cells."""
    rows = table[table["cells"] > 0]
    return Counter(rows.set_index(["from_class", "to_class"])["cells"].to_dict())


def _pairs(classes: list[str], was: np.ndarray, now: np.ndarray) -> Counter:
    return Counter((classes[a], classes[b]) for a, b in zip(was, now, strict=True))


def test_the_transitions_are_the_models_own_predictions_on_the_changed_tiles(trained_copy, dates):
    (before_path, before_tiles), (after_path, after_tiles) = dates["before"], dates["after"]
    out = _change(trained_copy, before_path, after_path)
    was, was_top = _predict(trained_copy, before_tiles)
    now, now_top = _predict(trained_copy, after_tiles)
    classes = _served(trained_copy)[1]
    assert out["codes"].tolist() == _codes(was, now).tolist()
    assert out["confidence"] == pytest.approx(np.minimum(was_top, now_top), abs=1e-5)
    expected = _pairs(classes, was.ravel(), now.ravel())
    assert _moved(out["table"]) == expected and len(out["table"]) == 100
    assert out["table"]["area_km2"].sum() == pytest.approx(16 * 0.64 * 0.64)
    changed = int((was != now).sum())
    assert changed >= 2  # the swapped tiles at least: the test means something
    report = out["report"]
    assert report["cells_compared"] == 16 and report["cells_changed"] == changed
    assert report["changed_share"] == pytest.approx(changed / 16)
    assert report["km2_per_cell"] == pytest.approx(0.4096)
    assert out["profile"]["transform"] == SCENE_ORIGIN @ Affine.scale(64)
    assert out["profile"]["tags"]["before"] == str(before_path)
    item = out["stac"]
    links = [link.href for link in item.links if link.rel == "derived_from"]
    assert links == [before_path.resolve().as_uri(), after_path.resolve().as_uri()]
    assert item.properties["proj:shape"] == [4, 4]
    png = _outputs(trained_copy) / "landuse_change.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{trained_copy / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("eurosat-sample")
    (run, *_) = client.search_runs([experiment.experiment_id], order_by=["start_time DESC"])
    logged = {Path(a.path).name for a in client.list_artifacts(run.info.run_id, "landuse_change")}
    assert logged == set(OUTPUTS)


def _map_of(project: Path, scene: Path, folder: Path) -> Path:
    """The mapping pipeline's map and confidence map of ``scene``, moved to ``folder``."""
    run_session(
        project,
        env="sample",
        pipeline="mapping",
        params={"mapping.scene": str(scene), "mapping.min_confidence": "null"},
    )
    folder.mkdir()
    for name in ("landuse_map.tif", "landuse_confidence.tif"):
        shutil.copy(_outputs(project) / name, folder / name)
    return folder / "landuse_map.tif"


def test_masked_uncertain_and_unsure_cells_are_never_counted_as_change(
    trained_copy, dates, tmp_path
):
    (before_path, before_tiles), (after_path, after_tiles) = dates["before"], dates["after"]
    path = _map_of(trained_copy, before_path, tmp_path / "2019")
    landuse_map = GeoTiffDataset(str(path)).load()
    # the swapped tiles: masked (cloud) on the earlier date and uncertain
    landuse_map.values[0, 0], landuse_map.values[0, 1] = CLASS_MASKED, CLASS_UNCERTAIN
    GeoTiffDataset(str(path)).save(landuse_map)
    was, was_top = _predict(trained_copy, before_tiles)
    now, now_top = _predict(trained_copy, after_tiles)
    lower = np.minimum(was_top, now_top)
    threshold = float(np.sort(lower.ravel()[2:])[2])  # the 2 least sure of the others: below
    out = _change(trained_copy, path, after_path, **{"change.min_confidence": threshold})
    expected = _codes(was, now)
    unsure = lower < threshold
    unsure[0, :2] = False
    expected[unsure] = CHANGE_LOW_CONFIDENCE
    expected[0, :2] = [CLASS_MASKED, CLASS_UNCERTAIN]
    assert out["codes"].tolist() == expected.tolist() and unsure.sum() == 2
    classes = _served(trained_copy)[1]
    counted = np.ones((SIDE, SIDE), bool)
    counted[0, :2] = False
    counted &= ~unsure
    pairs = _pairs(classes, was[counted], now[counted])
    assert _moved(out["table"]) == pairs and out["table"]["cells"].sum() == 12
    report = out["report"]
    assert report["not_comparable"] == {"nodata": 0, "masked": 1, "uncertain": 1,
                                        "low_confidence": 2}  # fmt: skip
    assert report["before"]["masked"] == 1 and report["before"]["uncertain"] == 1
    assert report["before"]["source"] == str(path) and report["cells_compared"] == 12


def test_a_shifted_grid_is_brought_onto_the_earlier_one(trained_copy, dates, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    before_path, tiles = dates["before"]
    east = Affine.translation(640, 0) @ SCENE_ORIGIN  # one tile east: the same tiles, moved
    shifted = _write_mosaic(tmp_path / "shifted.tif", tiles, transform=east)
    out = _change(trained_copy, before_path, shifted)
    was, _ = _predict(trained_copy, tiles)
    expected = np.full((SIDE, SIDE), CLASS_NODATA)
    expected[:, 1:] = _codes(was[:, 1:], was[:, :-1])
    assert out["codes"].tolist() == expected.tolist()
    assert out["profile"]["transform"] == SCENE_ORIGIN @ Affine.scale(64)
    assert out["report"]["after"]["nodata"] == 4 and "resampled_from" in out["report"]["after"]
    assert "resampled onto the latter (nearest)" in caplog.text


def test_dates_that_do_not_overlap_are_an_error_naming_both(trained_copy, dates, tmp_path):
    before_path, tiles = dates["before"]
    far = _write_mosaic(tmp_path / "far.tif", tiles, Affine.translation(0, 100_000) @ SCENE_ORIGIN)
    with pytest.raises(ChangeError) as error:
        _change(trained_copy, before_path, far)
    assert f"{far} (EPSG:32633, bounds 500000.0, 5297440.0, 502560.0, 5300000.0)" in str(
        error.value
    )
    assert f"does not overlap {before_path} (EPSG:32633" in str(error.value)
    assert not any((_outputs(trained_copy) / name).exists() for name in OUTPUTS)


def test_unset_dates_say_how_to_set_them(trained_copy):
    with pytest.raises(DatasetError, match='"change.before=A,change.after=B"'):
        run_session(trained_copy, env="sample", pipeline="landuse_change")


def test_landuse_change_is_not_part_of_the_default_run(trained_project):
    bootstrap_project(trained_project)
    assert "landuse_change" in pipelines and not {"map_dates", "compare_dates"} & {
        n.name for n in pipelines["__default__"].nodes
    }


def _mapping_parameters(project: Path, **overrides) -> dict:
    loader = OmegaConfigLoader(str(project / "conf"), env="sample", **CONFIG_LOADER_ARGS)
    return {**loader["parameters"]["mapping"], **overrides}


def test_a_real_multidate_sentinel2_patch(trained_copy):
    """Two dates of a real L1C patch (float reflectance, 101x100 px: one 64x64 window), each
    cell as the mapping pipeline maps it alone."""
    if not SLOVENIA.is_dir():
        pytest.skip(f"{SLOVENIA} is absent (the shared multi-date Sentinel-2 patch)")
    before, after = (SLOVENIA / f"L1C_TOA_{d}_B04B03B02.tif" for d in ("2015-07-11", "2015-09-09"))
    out = _change(trained_copy, before, after, **{"mapping.offset": 0})
    model = ServedModelDataset(
        str(trained_copy / "data" / "sample" / "06_models" / "mlflow_model")
    ).load()
    mapping = _mapping_parameters(trained_copy, offset=0, min_confidence=None)
    alone = []
    for path in (before, after):
        scene = open_scene(path)
        stretch = choose_stretch(scene, mapping["stretch"], 0, mapping["preview_size"])
        alone.append(classify_scene(scene, model, stretch, mapping)[0].values)
    assert out["codes"].shape == (2, 2)
    assert out["codes"][0, 0] == _codes(alone[0], alone[1])[0, 0]
    assert (out["codes"][1, :] == CLASS_NODATA).all() and out["codes"][0, 1] == CLASS_NODATA
    assert out["report"]["cells_compared"] == 1 and out["report"]["not_comparable"]["nodata"] == 3
    assert out["stac"].properties["proj:code"] == "EPSG:32633"
