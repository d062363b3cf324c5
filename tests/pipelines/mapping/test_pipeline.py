"""`kedro run --pipelines mapping` on a mosaic of real tiles, a real Sentinel-2 patch and bad
scenes."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pystac
import pytest
import rasterio
from kedro.framework.project import pipelines
from kedro.framework.startup import bootstrap_project
from kedro.io import DatasetError
from PIL import Image
from pystac.extensions.classification import ClassificationExtension
from pystac.validation import validate_dict
from rasterio import Affine

from eurosat_kedro.datasets import ServedModelDataset
from eurosat_kedro.datasets.served_model_dataset import ModelProvenance, ServedModel
from eurosat_kedro.mapping import (
    CLASS_MASKED,
    CLASS_NODATA,
    CLASS_UNCERTAIN,
    choose_limits,
    to_uint8,
)
from eurosat_kedro.mapping.grid import MODEL_TAGS
from eurosat_kedro.mapping.radiometry import eurosat_bytes_to_dn
from eurosat_kedro.pipelines.mapping.nodes import model_properties, resolve_min_confidence
from eurosat_kedro.serving.classifier import OnnxClassifier
from eurosat_kedro.serving.predict import softmax
from tests.conftest import run_session
from tests.mapping.conftest import UTM33, bigearthnet_patch, write_safe, write_tif

SCENE_ORIGIN = Affine.translation(500000, 5200000) @ Affine.scale(10, -10)


def _outputs(project: Path) -> Path:
    return project / "data" / "sample" / "07_model_output"


def _served(project: Path) -> OnnxClassifier:
    model = ServedModelDataset(
        str(project / "data" / "sample" / "06_models" / "mlflow_model")
    ).load()
    return OnnxClassifier(model.onnx_model, list(model.classes))


def _map(project: Path, scene: str, **params) -> tuple[dict, np.ndarray, np.ndarray]:
    """Map ``scene``; no window is ``uncertain`` unless ``mapping.min_confidence`` is given."""
    params = {"mapping.scene": scene, "mapping.min_confidence": "null", **params}
    run_session(project, env="sample", pipeline="mapping", params=params)
    with rasterio.open(_outputs(project) / "landuse_map.tif") as src:
        ids, profile = (
            src.read(1),
            {
                "crs": src.crs,
                "transform": src.transform,
                "nodata": src.nodata,
                "tags": src.tags(),
                "colormap": src.colormap(1),
            },
        )
    with rasterio.open(_outputs(project) / "landuse_confidence.tif") as src:
        confidence = src.read(1)
    return profile, ids, confidence


@pytest.fixture(scope="module")
def mosaic(trained_project: Path, tmp_path_factory) -> tuple[Path, np.ndarray]:
    """A 6x6 mosaic of real sample tiles (classes in turn), 10 m pixels in UTM 33N."""
    root = trained_project / "data" / "sample" / "01_raw" / "extracted" / "EuroSAT_RGB"
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    tiles = [
        np.asarray(Image.open(sorted(folders[i % len(folders)].iterdir())[i // 10]))
        for i in range(36)
    ]
    tiles = np.stack(tiles)
    rows = [np.concatenate(list(tiles[r * 6 : (r + 1) * 6]), axis=1) for r in range(6)]
    path = tmp_path_factory.mktemp("mosaic") / "mosaic.tif"
    write_tif(path, np.concatenate(rows).transpose(2, 0, 1), transform=SCENE_ORIGIN)
    return path, tiles


def test_every_map_pixel_is_the_served_models_prediction_of_its_tile(trained_copy, mosaic):
    path, tiles = mosaic
    profile, ids, confidence = _map(trained_copy, str(path))
    probabilities = softmax(_served(trained_copy).logits(tiles))
    assert ids.tolist() == probabilities.argmax(axis=1).reshape(6, 6).tolist()
    assert confidence == pytest.approx(probabilities.max(axis=1).reshape(6, 6), abs=1e-5)
    assert profile["crs"].to_string() == UTM33 and profile["nodata"] == CLASS_NODATA
    assert profile["transform"] == SCENE_ORIGIN @ Affine.scale(64)
    assert profile["tags"]["stride"] == "64" and "AnnualCrop" in profile["tags"]["classes"]
    assert len(profile["colormap"]) >= 10
    areas = pd.read_csv(_outputs(trained_copy) / "landuse_areas.csv")
    assert areas["area_km2"].sum() == pytest.approx(36 * 0.64 * 0.64)  # 14.7456 km2
    assert areas["windows"].sum() == 36 and areas["share"].sum() == pytest.approx(1)
    png = _outputs(trained_copy) / "landuse_map.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the deployed folder: the test accuracy its deployment measured, no registry version
    item = pystac.Item.from_file(str(_outputs(trained_copy) / "landuse_map.stac.json"))
    metrics = json.loads((trained_copy / "data/sample/08_reporting/metrics.json").read_text())
    assert item.properties["eurosat:model_test_accuracy"] == metrics["accuracy"]
    assert "eurosat:model_version" not in item.properties


SAMPLE_CHAMPION = "models:/eurosat-landuse-sample@champion"  # registered by the sample run


def test_a_map_made_by_a_registered_model_names_its_version_and_test_accuracy(trained_copy, mosaic):
    profile, _, _ = _map(trained_copy, str(mosaic[0]), **{"mapping.model_uri": SAMPLE_CHAMPION})
    store = f"sqlite:///{trained_copy / 'mlflow.db'}"
    version = mlflow.MlflowClient(store, store).get_model_version_by_alias(
        "eurosat-landuse-sample", "champion"
    )
    path = _outputs(trained_copy) / "landuse_map.stac.json"
    item = pystac.Item.from_file(str(path))
    tags = version.tags
    expected = {
        "eurosat:model_uri": SAMPLE_CHAMPION,
        "eurosat:precision": "fp32",
        "eurosat:registered_model": "eurosat-landuse-sample",
        "eurosat:model_version": str(version.version),
        "eurosat:model_run_id": version.run_id,
        "eurosat:model_test_accuracy": float(tags["test_accuracy"]),
        "eurosat:model_test_accuracy_ci": [
            float(tags["test_accuracy_ci_low"]),
            float(tags["test_accuracy_ci_high"]),
        ],
    }
    assert {k: item.properties.get(k) for k in expected} == expected
    validate_dict({**json.loads(path.read_text()), "stac_extensions": []})  # core, offline
    assert profile["tags"]["model_version"] == str(version.version)  # the GeoTIFF's tags too
    assert float(profile["tags"]["model_test_accuracy"]) == float(tags["test_accuracy"])


def test_model_properties_leave_out_what_is_unknown():
    model = ServedModel(b"", ("A",), "int8", "m.onnx", provenance=ModelProvenance(version="2"))
    assert model_properties(model) == {
        "model_uri": "m.onnx",
        "precision": "int8",
        "model_version": "2",
    }
    known = ModelProvenance("m", "2", "run", 0.97, (0.96, 0.98))
    full = model_properties(ServedModel(b"", ("A",), "fp32", "models:/m/2", provenance=known))
    assert list(full) == list(MODEL_TAGS)  # the change map carries each date's by this list
    assert {key: read(str(full[key])) for key, read in MODEL_TAGS.items()} == full | {
        "model_test_accuracy_ci": [0.96, 0.98]  # a JSON list in a STAC item
    }


@pytest.mark.parametrize("level", ["L1C", "L2A"])
def test_tiles_rebuilt_into_a_baseline_05_09_product_map_to_their_own_predictions(
    trained_copy, mosaic, tmp_path: Path, level: str
):
    """EuroSAT tiles -> the DN a baseline 05.09 product stores (EuroSAT's recipe inverted,
    plus the 1000 offset) -> a .SAFE -> the map: each cell is the tile's own prediction."""
    path, tiles = mosaic
    with rasterio.open(path) as src:
        dn = eurosat_bytes_to_dn(src.read(), offset=-1000)
    safe = write_safe(tmp_path, dn, level=level, baseline="05.09", transform=SCENE_ORIGIN)
    _, ids, confidence = _map(trained_copy, str(safe))
    # EuroSAT's byte 0 is nodata: a product cannot store it, so the tiles' rare 0s come back 1
    probabilities = softmax(_served(trained_copy).logits(np.maximum(tiles, 1)))
    assert ids.tolist() == probabilities.argmax(axis=1).reshape(6, 6).tolist()
    assert confidence == pytest.approx(probabilities.max(axis=1).reshape(6, 6), abs=1e-5)
    item = pystac.Item.from_file(str(_outputs(trained_copy) / "landuse_map.stac.json"))
    assert item.datetime.date().isoformat() == "2024-06-01"  # the product's acquisition date
    assert item.get_single_link("derived_from").href == safe.resolve().as_uri()
    assert item.properties["proj:code"] == UTM33 and item.properties["proj:shape"] == [6, 6]
    classes = ClassificationExtension.ext(item.assets["landuse_map"]).classes
    assert {c.value: c.name for c in classes}[254] == "masked"
    assert {c.name for c in classes} >= {"AnnualCrop", "SeaLake", "uncertain", "nodata"}
    west, south, east, north = item.bbox
    assert 14.9 < west < east < 15.2 and 46.8 < south < north < 47.1  # UTM 33N 500 km E 5200 km N


@pytest.mark.parametrize("level", ["L2A", "L1C"])
def test_cloudy_windows_of_the_products_mask_are_masked_and_counted(
    trained_copy, mosaic, tmp_path: Path, level: str
):
    path, tiles = mosaic
    with rasterio.open(path) as src:
        dn = eurosat_bytes_to_dn(src.read(), offset=-1000)
    if level == "L2A":  # SCL at 20 m (192 x 192): cloud (9) over the first two window rows
        mask = np.full((192, 192), 4, np.uint8)  # 4: vegetation
        mask[:64, :] = 9
    else:  # MSK_CLASSI_B00 at 60 m (64 x 64): opaque clouds over the same rows
        mask = np.zeros((3, 64, 64), np.uint8)
        mask[0, :22, :] = 1
    safe = write_safe(tmp_path, dn, level=level, transform=SCENE_ORIGIN, mask=mask)
    _, ids, confidence = _map(trained_copy, str(safe))
    predicted = softmax(_served(trained_copy).logits(np.maximum(tiles, 1))).argmax(axis=1)
    assert (ids[:2] == CLASS_MASKED).all() and np.isnan(confidence[:2]).all()
    assert ids[2:].tolist() == predicted.reshape(6, 6)[2:].tolist()
    areas = pd.read_csv(_outputs(trained_copy) / "landuse_areas.csv").set_index("class")
    assert areas.loc["masked", "windows"] == 12 and areas["windows"].sum() == 36
    assert areas.loc["masked", "area_km2"] == pytest.approx(12 * 0.64 * 0.64)


@pytest.mark.parametrize("setting", [0.5, "model"])
def test_windows_below_min_confidence_are_uncertain(trained_copy, mosaic, setting):
    """A number, or by default the served model's own threshold fitted on validation."""
    path, tiles = mosaic
    _, ids, confidence = _map(trained_copy, str(path), **{"mapping.min_confidence": setting})
    served = _served(trained_copy)
    threshold = served.unknown_threshold if setting == "model" else setting
    assert 0 < threshold < 1
    probabilities = softmax(served.logits(tiles))
    top = probabilities.max(axis=1).reshape(6, 6)
    expected = np.where(
        top < threshold, CLASS_UNCERTAIN, probabilities.argmax(axis=1).reshape(6, 6)
    )
    assert ids.tolist() == expected.tolist() and confidence == pytest.approx(top, abs=1e-5)
    areas = pd.read_csv(_outputs(trained_copy) / "landuse_areas.csv").set_index("class")
    assert areas.loc["uncertain", "windows"] == int((top < threshold).sum())


def test_mapping_is_not_part_of_the_default_run(trained_project):
    bootstrap_project(trained_project)
    assert "mapping" in pipelines and not {"classify_scene", "choose_stretch"} & {
        n.name for n in pipelines["__default__"].nodes
    }


@pytest.fixture(scope="module")
def patch(tmp_path_factory) -> Path:
    return bigearthnet_patch(tmp_path_factory.mktemp("bigearthnet"))


@pytest.mark.parametrize("stride, shape, inside", [(64, (2, 2), 1), (56, (3, 3), 2)])
def test_a_real_sentinel2_patch_from_its_band_files(trained_copy, patch, stride, shape, inside):
    profile, ids, _ = _map(
        trained_copy, str(patch), **{"mapping.bands": "B04 B03 B02", "mapping.stride": stride}
    )
    with rasterio.open(next(patch.glob("*_B04.tif"))) as src:
        crs, transform = src.crs, src.transform
    assert profile["crs"] == crs and profile["transform"] == transform @ Affine.scale(stride)
    assert ids.shape == shape  # 120 px: windows reaching past the edge are nodata
    assert (ids[:inside, :inside] != CLASS_NODATA).all()
    assert (ids[inside:, :] == CLASS_NODATA).all() and (ids[:, inside:] == CLASS_NODATA).all()
    bands = []
    for band in ("B04", "B03", "B02"):
        with rasterio.open(next(patch.glob(f"*_{band}.tif"))) as src:
            bands.append(src.read(1)[:64, :64])
    # EuroSAT's recipe; the patch was acquired in 2017, before the 2022 offset
    tile = to_uint8(np.stack(bands), choose_limits({"type": "eurosat"}, "uint16", offset=0.0))
    assert ids[0, 0] == _served(trained_copy).logits(tile[None]).argmax()


def _untouched(project: Path) -> dict:
    return {p.name: p.stat().st_mtime_ns for p in _outputs(project).iterdir()}


@pytest.mark.parametrize(
    "make, bands, message",
    [
        (
            lambda d: (d / "notes.tif").write_text("text") and d / "notes.tif",
            None,
            "notes.tif is not a raster that rasterio can open",
        ),
        (
            lambda d: write_tif(d / "one.tif", np.zeros((1, 64, 64), np.uint8)),
            None,
            r"one.tif has 1 band\(s\), not the 3 of an RGB image",
        ),
        (
            lambda d: write_tif(d / "p_B04.tif", np.zeros((1, 64, 64), np.uint16)),
            "B04 B03 B02",
            r"missing band file: no .*p\*_B03.tif",
        ),
        (
            lambda d: write_tif(d / "small.tif", np.zeros((3, 40, 80), np.uint8)),
            None,
            "small.tif is 80x40 px, smaller than one 64x64 window",
        ),
    ],
)
def test_bad_scenes_are_named_and_write_nothing(trained_copy, tmp_path, make, bands, message):
    before = _untouched(trained_copy)
    params = {"mapping.scene": str(make(tmp_path))}
    if bands:
        params["mapping.bands"] = bands
    with pytest.raises(DatasetError, match=message):
        run_session(trained_copy, env="sample", pipeline="mapping", params=params)
    assert _untouched(trained_copy) == before


def test_missing_scene_parameter_says_how_to_set_it(trained_copy):
    with pytest.raises(DatasetError, match='"mapping.scene=PATH"'):
        run_session(trained_copy, env="sample", pipeline="mapping")


def test_a_scene_without_crs_maps_with_pixel_areas(trained_copy, mosaic, tmp_path, caplog):
    with rasterio.open(mosaic[0]) as src:
        pixels = src.read()
    path = write_tif(
        tmp_path / "plain.tif", pixels[:, :128, :192], crs=None, transform=Affine.identity()
    )
    profile, ids, _ = _map(trained_copy, str(path))
    assert profile["crs"] is None and ids.shape == (2, 3) and (ids != CLASS_NODATA).all()
    areas = pd.read_csv(_outputs(trained_copy) / "landuse_areas.csv")
    assert areas["area_km2"].isna().all() and areas["pixels"].sum() == 6 * 64 * 64
    assert "has no CRS" in caplog.text


@pytest.mark.parametrize(
    ("setting", "expected"),
    [("model", 0.42), (None, None), (0.3, 0.3), ("0.3", 0.3)],
)
def test_min_confidence_takes_the_models_own_threshold_by_default(setting, expected):
    assert resolve_min_confidence(setting, 0.42) == expected


def test_min_confidence_model_without_a_threshold_is_off_and_nonsense_is_refused():
    assert resolve_min_confidence("model", 0.0) is None
    with pytest.raises(ValueError, match="mapping.min_confidence must be in"):
        resolve_min_confidence(1.5, 0.42)
    with pytest.raises(ValueError, match="model, null or a probability"):
        resolve_min_confidence("auto", 0.42)
