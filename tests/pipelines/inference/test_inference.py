"""`kedro run --pipelines inference` on an image and on a folder with a bad file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from kedro.io import DatasetError

from eurosat_kedro.serving.classifier import OnnxClassifier
from eurosat_kedro.serving.contract import TABLE_COLUMNS
from tests.conftest import run_session


def _a_sample_image(project: Path) -> Path:
    root = project / "data" / "sample" / "01_raw" / "extracted" / "EuroSAT_RGB" / "River"
    return sorted(root.iterdir())[0]


def test_single_image_prints_and_writes_the_prediction(trained_copy: Path, capsys):
    image = _a_sample_image(trained_copy)
    run_session(
        trained_copy,
        env="sample",
        pipeline="inference",
        params={"inference.image_path": str(image)},
    )
    written = json.loads(
        (trained_copy / "data" / "sample" / "07_model_output" / "inference.json").read_text()
    )
    assert written["path"] == str(image)
    assert set(written) >= {"predicted_class", "probabilities", "topk"}
    assert sum(written["probabilities"].values()) == pytest.approx(1.0)
    assert len(written["topk"]) == 3
    printed = capsys.readouterr().out
    assert f'"predicted_class": "{written["predicted_class"]}"' in printed


def test_folder_predicts_every_image_and_reports_the_bad_one(trained_copy: Path, tmp_path):
    folder = tmp_path / "to_predict"
    folder.mkdir()
    source = _a_sample_image(trained_copy).parent
    for path in sorted(source.iterdir())[:5]:
        shutil.copy(path, folder / path.name)
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    run_session(
        trained_copy,
        env="sample",
        pipeline="inference",
        params={"inference.image_path": str(folder)},
    )
    out = trained_copy / "data" / "sample" / "07_model_output"
    table = pd.read_parquet(out / "inference_predictions.parquet")
    assert list(table.columns) == list(TABLE_COLUMNS)
    assert len(table) == 6
    broken = table[table["path"].str.endswith("broken.jpg")].iloc[0]
    assert "not an image" in broken["error"] and pd.isna(broken["predicted_class"])
    assert table["predicted_class"].notna().sum() == 5
    summary = json.loads((out / "inference.json").read_text())
    assert summary["n_predicted"] == 5 and summary["n_errors"] == 1


def test_missing_image_path_parameter_says_how_to_set_it(trained_copy: Path):
    with pytest.raises(DatasetError, match="inference.image_path=PATH"):
        run_session(trained_copy, env="sample", pipeline="inference")


def _predict(project: Path, image: Path | str, model_uri: str | None = None) -> dict:
    """`kedro run --pipelines inference` on one image (with ``inference.model_uri`` when given);
    the written inference.json."""
    params = {"inference.image_path": str(image)}
    if model_uri is not None:
        params["inference.model_uri"] = model_uri
    run_session(project, env="sample", pipeline="inference", params=params)
    summary = project / "data" / "sample" / "07_model_output" / "inference.json"
    return json.loads(summary.read_text())


def _probabilities_of(model_path: Path, image: Path, classes: list[str]) -> dict:
    classifier = OnnxClassifier(model_path, classes)
    return classifier.predict_frame(pd.DataFrame({"image_path": [str(image)]}))["probabilities"][0]


def test_model_uri_takes_an_onnx_file_such_as_the_int8_model(trained_copy: Path):
    image = _a_sample_image(trained_copy)
    out = trained_copy / "data" / "sample"
    written = _predict(trained_copy, image, str(out / "06_models" / "model_int8.onnx"))
    classes = json.loads((out / "02_intermediate" / "classes.json").read_text())
    int8 = _probabilities_of(out / "06_models" / "model_int8.onnx", image, classes)
    fp32 = _probabilities_of(out / "06_models" / "model.onnx", image, classes)
    assert written["probabilities"] == pytest.approx(int8, abs=1e-6)
    assert written["probabilities"] != pytest.approx(fp32, abs=1e-6)


def test_a_model_uri_that_is_nothing_is_named(trained_copy: Path):
    with pytest.raises(DatasetError, match="inference.model_uri 'no/such/model' is neither"):
        _predict(trained_copy, _a_sample_image(trained_copy), "no/such/model")


def test_model_uri_takes_the_registry_champion(trained_copy: Path):
    image = _a_sample_image(trained_copy)
    local = _predict(trained_copy, image)
    champion = _predict(trained_copy, image, "models:/eurosat-landuse-sample@champion")
    assert champion["probabilities"] == pytest.approx(local["probabilities"], abs=1e-6)


@pytest.mark.parametrize("uri", ["models:/eurosat-landuse-sample@nope", "models:/no-such-model/1"])
def test_a_missing_alias_or_model_is_named(trained_copy: Path, uri: str):
    with pytest.raises(DatasetError, match=f"inference.model_uri '{uri}' cannot be loaded"):
        _predict(trained_copy, _a_sample_image(trained_copy), uri)
