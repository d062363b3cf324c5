"""The pyfunc model (serving/pyfunc.py) in process: its ``image_bytes`` column (what Spark's
batch_inference sends) and its per-row error mode."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from eurosat_kedro.serving.contract import OUTPUT_COLUMNS


@pytest.fixture(scope="module")
def model(trained_project: Path):
    with pytest.MonkeyPatch.context() as patch:  # the paths read are the project's data
        patch.setenv("EUROSAT_ALLOWED_ROOTS", str(trained_project / "data"))
        return mlflow.pyfunc.load_model(str(trained_project / "data/sample/06_models/mlflow_model"))


def _image(project: Path) -> Path:
    folder = project / "data/sample/01_raw/extracted/EuroSAT_RGB/Forest"
    return sorted(folder.iterdir())[0]


def test_raw_bytes_predict_what_the_path_predicts(model, trained_project: Path):
    image = _image(trained_project)
    by_bytes = model.predict(pd.DataFrame({"image_bytes": [image.read_bytes()]}))
    by_path = model.predict(pd.DataFrame({"image_path": [str(image)]}))
    assert by_bytes.to_dict("records") == by_path.to_dict("records")


def test_a_bad_row_fails_the_request_by_default(model):
    with pytest.raises(MlflowException, match="row 0: image_bytes is empty"):
        model.predict(pd.DataFrame({"image_bytes": [b""]}))


def test_with_on_error_row_every_row_gets_an_answer(model, trained_project: Path):
    image = _image(trained_project).read_bytes()
    frame = pd.DataFrame({"image_bytes": [image, b"", b"not an image", image[:200]]})
    out = model.predict(frame, params={"on_error": "row"})
    assert list(out.columns) == list(OUTPUT_COLUMNS)
    assert len(out) == 4
    good = out.iloc[0]
    assert pd.isna(good["error"]) and good["probability"] == good["topk"][0]["probability"]
    for row in out.iloc[1:].itertuples():
        assert pd.isna(row.predicted_class) and math.isnan(row.probability) and row.topk == []
    assert out["error"].tolist()[1:3] == [
        "image_bytes is empty (a 0-byte file)",
        "not an image (unknown format or corrupt header)",
    ]
    assert out["error"][3]  # truncated JPEG


def test_an_unknown_on_error_is_refused(model, trained_project: Path):
    frame = pd.DataFrame({"image_path": [str(_image(trained_project))]})
    with pytest.raises(MlflowException, match="on_error must be one of raise, row"):
        model.predict(frame, params={"on_error": "skip"})


@pytest.mark.parametrize("on_error", ["raise", "row"])
def test_the_scoring_server_gets_records_that_answer_exactly_what_the_frame_answers(
    model, trained_project: Path, monkeypatch, on_error: str
):
    """Inside `mlflow models serve` the pyfunc returns records instead of a DataFrame (the
    server would only take the frame apart again): the server writes the same answers, except
    that a failed row's missing class and a good row's missing error are null, valid JSON,
    where the frame gave NaN."""
    from mlflow.pyfunc.scoring_server import predictions_to_json

    image = _image(trained_project).read_bytes()
    rows = [image, image] if on_error == "raise" else [image, b"", b"not an image"]
    frame = pd.DataFrame({"image_bytes": rows})

    def served_json(in_server: bool) -> str:
        monkeypatch.setenv("_MLFLOW_IS_IN_SERVING_ENVIRONMENT", str(in_server).lower())
        answer = model.predict(frame, params={"on_error": on_error})
        assert isinstance(answer, list if in_server else pd.DataFrame)
        out = io.StringIO()
        predictions_to_json(answer, out)
        return out.getvalue()

    def nulls_for_nan_text(text: str) -> list[dict]:
        rows = json.loads(text)["predictions"]
        for row in rows:
            for key in ("predicted_class", "probability", "error"):
                if isinstance(row[key], float) and math.isnan(row[key]):
                    row[key] = None
        return rows

    served = served_json(True)
    assert "NaN" not in served
    assert json.loads(served)["predictions"][0]["error"] is None
    assert nulls_for_nan_text(served) == nulls_for_nan_text(served_json(False))
