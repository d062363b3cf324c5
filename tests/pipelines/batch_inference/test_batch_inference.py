"""`kedro run --pipelines batch_inference` on real sample images and bad files, on Spark
local[2]; the errors of its inputs, named."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from kedro.io import DatasetError

from eurosat_kedro.datasets.served_model_dataset import ServedModel, ServedModelDataset
from eurosat_kedro.datasets.spark_image_files_dataset import (
    SparkImageFilesDataset,
    extension_filter,
)
from eurosat_kedro.pipelines.batch_inference.nodes import spark_model_uri
from eurosat_kedro.serving.contract import TABLE_COLUMNS
from eurosat_kedro.spark import NO_PROGRESS_BARS
from tests.conftest import run_session

EXTENSIONS = ["jpg", "jpeg", "png", "tif", "tiff"]
BAD = {"corrupt.jpg", "text.jpg", "empty.jpeg"}


def _images_to_score(project: Path, folder: Path) -> list[Path]:
    """3 sample images per class (one renamed .JPG, in a sub-folder), 3 bad files, and a
    .txt file that is not scored."""
    source = project / "data" / "sample" / "01_raw" / "extracted" / "EuroSAT_RGB"
    good = []
    for class_folder in sorted(source.iterdir()):
        for image in sorted(class_folder.iterdir())[:3]:
            target = folder / class_folder.name / image.name
            target.parent.mkdir(parents=True, exist_ok=True)
            good.append(Path(shutil.copy(image, target)))
    good[0] = good[0].rename(good[0].with_suffix(".JPG"))
    (folder / "corrupt.jpg").write_bytes(good[1].read_bytes()[:300])  # truncated JPEG
    (folder / "text.jpg").write_text("not an image at all\n")
    (folder / "empty.jpeg").write_bytes(b"")
    (folder / "notes.txt").write_text("skipped: not an image extension\n")
    return good


@pytest.mark.slow
def test_one_row_per_file_bad_files_are_error_rows(
    trained_copy: Path, spark, tmp_path: Path, monkeypatch, capfd
):
    trained_project = trained_copy
    folder = tmp_path / "to_score"
    good = _images_to_score(trained_project, folder)
    run_session(
        trained_project,
        env="sample",
        pipeline="batch_inference",
        params={"batch_inference.input": str(folder)},
    )
    assert "Downloading artifacts" not in capfd.readouterr().err  # no progress bars in the log
    data = trained_project / "data" / "sample"
    table = pd.read_parquet(data / "07_model_output" / "batch_predictions.parquet")
    assert list(table.columns) == list(TABLE_COLUMNS)
    table["file"] = table["path"].str.removeprefix("file:")
    assert sorted(table["file"]) == sorted([str(p) for p in good] + [str(folder / b) for b in BAD])

    bad = table[table["file"].map(lambda f: Path(f).name in BAD)]
    assert bad["error"].notna().all() and bad["predicted_class"].isna().all()
    assert bad["probability"].isna().all() and bad["topk"].isna().all()
    errors = dict(zip(bad["file"].map(lambda f: Path(f).name), bad["error"], strict=True))
    assert "empty" in errors["empty.jpeg"]
    assert "not an image" in errors["text.jpg"]

    scored = table[table["error"].isna()].set_index("file").loc[[str(p) for p in good]]
    monkeypatch.setenv("EUROSAT_ALLOWED_ROOTS", str(folder))
    model = mlflow.pyfunc.load_model(str(data / "06_models" / "mlflow_model"))
    expected = model.predict(pd.DataFrame({"image_path": [str(p) for p in good]}))
    assert list(scored["predicted_class"]) == list(expected["predicted_class"])
    for (_, row), (_, want) in zip(scored.iterrows(), expected.iterrows(), strict=True):
        assert row["probability"] == pytest.approx(want["topk"][0]["probability"], abs=1e-5)
        assert [t["class"] for t in row["topk"]] == [t["class"] for t in want["topk"]]
        got = [t["probability"] for t in row["topk"]]
        assert got == pytest.approx([t["probability"] for t in want["topk"]], abs=1e-5)

    report = json.loads((data / "08_reporting" / "batch_inference_report.json").read_text())
    assert report["n_files"] == len(good) + 3
    assert (report["n_predicted"], report["n_errors"]) == (len(good), 3)
    assert report["counts"] == expected["predicted_class"].value_counts().sort_index().to_dict()
    assert {Path(e["path"]).name for e in report["errors"]} == BAD

    client = mlflow.MlflowClient(f"sqlite:///{trained_project}/mlflow.db")
    experiment = client.get_experiment_by_name("eurosat-sample")
    run = client.search_runs([experiment.experiment_id], order_by=["start_time DESC"])[0]
    assert run.data.metrics["batch_inference.n_errors"] == 3
    assert run.data.metrics["batch_inference.n_files"] == len(good) + 3


@pytest.mark.slow
def test_spark_tasks_load_models_without_progress_bars(spark):
    """Every task that loads the model would print MLflow's download progress bar into the
    job's log: the session gives the executors MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=false."""
    name, value = NO_PROGRESS_BARS
    seen = spark.sparkContext.parallelize(range(4), 4).map(lambda _: os.environ.get(name))
    assert seen.collect() == [value] * 4
    assert spark.conf.get(f"spark.executorEnv.{name}") == "false"


@pytest.mark.slow
def test_a_missing_or_empty_input_is_named(spark, tmp_path: Path):
    with pytest.raises(DatasetError, match="batch_inference.input=PATH"):
        SparkImageFilesDataset(None, EXTENSIONS).load()
    missing = tmp_path / "no_such_folder"
    with pytest.raises(DatasetError, match=f"batch_inference.input '{missing}': no such"):
        SparkImageFilesDataset(str(missing), EXTENSIONS).load()
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images here")
    with pytest.raises(DatasetError, match=f"batch_inference.input '{empty}' holds no file"):
        SparkImageFilesDataset(str(empty), EXTENSIONS).load()


def test_a_missing_model_is_named(tmp_path: Path):
    parameter = "batch_inference.model_uri"
    with pytest.raises(DatasetError, match="batch_inference.model_uri 'no/such/model'"):
        ServedModelDataset("no/such/model", parameter).load()
    with pytest.raises(DatasetError, match="batch_inference.model_uri is empty"):
        ServedModelDataset(None, parameter)


def test_spark_scores_only_mlflow_models_that_answer_per_row():
    onnx_file = ServedModel(b"", ("A",), "fp32", "m.onnx")
    with pytest.raises(ValueError, match="'m.onnx' is a bare ONNX file"):
        spark_model_uri(onnx_file)
    old = ServedModel(b"", ("A",), "fp32", "models:/old/1", "models:/old/1", params=())
    with pytest.raises(ValueError, match="predates per-row errors"):
        spark_model_uri(old)
    folder = ServedModel(b"", ("A",), "fp32", "m", "/abs/m", params=("on_error",))
    assert spark_model_uri(folder) == "/abs/m"


def test_the_extension_filter_ignores_case():
    assert extension_filter(["jpg", ".tif"]) == "*.{[jJ][pP][gG],[tT][iI][fF]}"
