"""`kedro run --pipelines mapping_many` on small Sentinel-2 products and a GeoTIFF, one product
broken: on Spark local[2], then again in one process (skip, then overwrite); the maps equal the
mapping pipeline's, the collection and the VRT mosaics hold them all."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pystac
import pytest
import rasterio
from PIL import Image
from pystac.validation import validate_dict
from rasterio import Affine
from rasterio.transform import array_bounds

from eurosat_kedro.mapping.radiometry import eurosat_bytes_to_dn
from tests.conftest import copy_trained_project, run_session
from tests.mapping.conftest import write_safe, write_tif

FILES = {"landuse_map.tif", "landuse_confidence.tif", "landuse_areas.csv", "landuse_map.png",
         "landuse_map.stac.json"}  # fmt: skip
DATES = ["20240601T101031", "20240604T101031", "20240607T101031", "20240610T101031"]
BROKEN = f"S2B_MSIL1C_{DATES[3]}_N0509_R022_T33UUU_{DATES[3]}"


def _tiles(project: Path, first: int) -> np.ndarray:
    """uint8 (3, 256, 256): 16 real sample tiles (classes in turn) from tile ``first`` on."""
    root = project / "data" / "sample" / "01_raw" / "extracted" / "EuroSAT_RGB"
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    tiles = [
        np.asarray(Image.open(sorted(folders[i % len(folders)].iterdir())[i // len(folders)]))
        for i in range(first, first + 16)
    ]
    rows = [np.concatenate(tiles[r * 4 : (r + 1) * 4], axis=1) for r in range(4)]
    return np.concatenate(rows).transpose(2, 0, 1)


@pytest.fixture(scope="module")
def products(trained_project: Path, tmp_path_factory) -> Path:
    """Three L1C products side by side in UTM 33N, an RGB GeoTIFF in UTM 32N, and a product
    that lost its B03 file."""
    folder = tmp_path_factory.mktemp("products")
    for i, date in enumerate(DATES):
        origin = Affine.translation(500000 + 2560 * i, 5200000) @ Affine.scale(10, -10)
        dn = eurosat_bytes_to_dn(_tiles(trained_project, 16 * i), offset=-1000)
        write_safe(folder, dn, transform=origin, date=date)
    next((folder / f"{BROKEN}.SAFE").rglob("*_B03.jp2")).unlink()
    origin = Affine.translation(600000, 5100000) @ Affine.scale(10, -10)
    write_tif(folder / "zone32.tif", _tiles(trained_project, 48), "EPSG:32632", origin)
    return folder


def _outputs(project: Path) -> Path:
    return project / "data" / "sample"


def _run(project: Path, products: Path, **params) -> pd.DataFrame:
    params = {"mapping.scenes": f"{products}/*", **params}
    run_session(project, env="sample", pipeline="mapping_many", params=params)
    report = pd.read_csv(_outputs(project) / "08_reporting" / "landuse_maps_report.csv")
    return report.set_index("id")


def _read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


@pytest.fixture(scope="module")
def on_spark(trained_project: Path, products: Path, spark, tmp_path_factory):
    """A project copy that mapped the products on Spark local[2]; its report."""
    project = copy_trained_project(trained_project, tmp_path_factory.mktemp("many") / "project")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        report = _run(project, products, **{"mapping.engine": "spark"})
    return project, report


def test_each_good_product_is_mapped_into_its_folder_the_broken_one_reported(on_spark):
    project, report = on_spark
    maps = _outputs(project) / "07_model_output" / "maps"
    good = [f"S2B_MSIL1C_{d}_N0509_R022_T33UUU_{d}" for d in DATES[:3]] + ["zone32"]
    assert sorted(report.index) == sorted([*good, BROKEN])
    assert (report.loc[good, "status"] == "ok").all() and report.loc[good, "error"].isna().all()
    assert report.loc[BROKEN, "status"] == "failed"
    assert "has no 10 m B03 file" in report.loc[BROKEN, "error"]
    done = report.loc[good]
    assert (done["windows"] == 16).all() and (done["classified"] == 16).all()
    assert (done["seconds"] > 0).all() and (done["peak_rss_mib"] > 0).all()
    for product in good:
        assert {p.name for p in (maps / product).iterdir()} == FILES
        assert report.loc[product, "landuse_map"] == str(maps / product / "landuse_map.tif")
    # nothing of the broken product, no temporary folder left behind
    assert sorted(p.name for p in maps.iterdir() if p.is_dir()) == sorted(good)
    summary = _outputs(project) / "08_reporting" / "landuse_maps_summary.json"
    summary = json.loads(summary.read_text())
    assert (summary["n_products"], summary["n_ok"], summary["n_failed"]) == (5, 4, 1)
    assert summary["failed"][0]["id"] == BROKEN


def test_the_maps_equal_the_mapping_pipelines_of_each_scene(on_spark, tmp_path, monkeypatch):
    project, report = on_spark
    single = copy_trained_project(project, tmp_path / "project")
    monkeypatch.chdir(single)
    for product in (f"S2B_MSIL1C_{DATES[1]}_N0509_R022_T33UUU_{DATES[1]}", "zone32"):
        scene = report.loc[product, "scene"]
        run_session(single, env="sample", pipeline="mapping", params={"mapping.scene": scene})
        mapped = _outputs(single) / "07_model_output"
        landuse_map = _read(mapped / "landuse_map.tif")
        assert (landuse_map == _read(report.loc[product, "landuse_map"])).all(), product
        expected = _read(mapped / "landuse_confidence.tif")
        folder = Path(report.loc[product, "folder"])
        assert _read(folder / "landuse_confidence.tif") == pytest.approx(expected, abs=1e-6)


def test_the_collection_links_every_map_and_is_valid_stac(on_spark):
    project, report = on_spark
    path = _outputs(project) / "07_model_output" / "maps" / "collection.json"
    collection = pystac.Collection.from_file(str(path))
    collection.validate()  # the core schema pystac ships; the extensions' are online only
    items = list(collection.get_items())
    ok = report[report["status"] == "ok"]
    assert sorted(item.id for item in items) == sorted(f"landuse-{i}" for i in ok.index)
    for item in items:
        validate_dict({**item.to_dict(), "stac_extensions": []})
        folder = Path(item.get_self_href()).parent
        assert {Path(a.get_absolute_href()).name for a in item.assets.values()} <= FILES
        assert all(Path(a.get_absolute_href()).is_file() for a in item.assets.values())
        assert folder == Path(report.loc[item.id.removeprefix("landuse-"), "folder"])
    west, south, east, north = collection.extent.spatial.bboxes[0]
    assert all(west <= i.bbox[0] and i.bbox[2] <= east for i in items)
    assert all(south <= i.bbox[1] and i.bbox[3] <= north for i in items)


def test_one_vrt_per_crs_opens_and_equals_the_maps(on_spark):
    project, report = on_spark
    maps = _outputs(project) / "07_model_output" / "maps"
    assert sorted(p.name for p in maps.glob("*.vrt")) == [
        "landuse_map_EPSG_32632.vrt",
        "landuse_map_EPSG_32633.vrt",
    ]
    with rasterio.open(maps / "landuse_map_EPSG_32633.vrt") as src:
        assert src.shape == (4, 12) and src.colormap(1)[0][3] == 255
        for product in report[(report["status"] == "ok") & (report.index != "zone32")].index:
            with rasterio.open(report.loc[product, "landuse_map"]) as one:
                window = src.window(*array_bounds(one.height, one.width, one.transform))
                assert (src.read(1, window=window) == one.read(1)).all(), product
    with rasterio.open(maps / "landuse_map_EPSG_32632.vrt") as src:
        assert (src.read(1) == _read(report.loc["zone32", "landuse_map"])).all()


def test_a_rerun_skips_what_is_mapped_and_overwrite_maps_it_again(
    on_spark, products, tmp_path, monkeypatch
):
    project = copy_trained_project(on_spark[0], tmp_path / "project")
    monkeypatch.chdir(project)
    maps = _outputs(project) / "07_model_output" / "maps"
    before = {p: (p.stat().st_mtime_ns, _read(p)) for p in maps.glob("*/landuse_map.tif")}
    report = _run(project, products)  # engine local
    assert (report.drop(BROKEN)["status"] == "skipped").all()
    assert report.loc[BROKEN, "status"] == "failed"  # tried again, still broken
    assert {p: p.stat().st_mtime_ns for p in before} == {p: t for p, (t, _) in before.items()}
    collection = json.loads((maps / "collection.json").read_text())
    assert len([link for link in collection["links"] if link["rel"] == "item"]) == 4
    assert len(list(maps.glob("*.vrt"))) == 2

    report = _run(project, products, **{"mapping.overwrite": True})
    assert (report.drop(BROKEN)["status"] == "ok").all()
    for path, (mtime, values) in before.items():
        assert path.stat().st_mtime_ns != mtime
        assert (_read(path) == values).all(), path  # one process maps what Spark mapped
    assert not [p for p in maps.iterdir() if p.name.startswith(".")]
