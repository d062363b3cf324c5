"""serving/classifier.py on a tiny ONNX model: the answer frame has the dtypes pandas infers
for its values (the fast path included), and a row is read from whichever input column holds
it, whatever its form."""

from __future__ import annotations

import base64
import math

import numpy as np
import onnx
import pandas as pd
import pytest

from eurosat_kedro.serving.classifier import OnnxClassifier, RequestError
from eurosat_kedro.serving.contract import OUTPUT_COLUMNS
from tests.conftest import CLASSES, image_bytes


def _mean_colour_model() -> bytes:
    """(N, 3, 64, 64) -> (N, 10) logits: the mean of each channel times a fixed matrix."""
    helper = onnx.helper
    weights = np.random.default_rng(0).normal(size=(3, len(CLASSES))).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["image"], ["mean"], axes=[2, 3], keepdims=0),
            helper.make_node("MatMul", ["mean", "w"], ["logits"]),
        ],
        "mean_colour",
        [helper.make_tensor_value_info("image", onnx.TensorProto.FLOAT, ["N", 3, 64, 64])],
        [helper.make_tensor_value_info("logits", onnx.TensorProto.FLOAT, ["N", len(CLASSES)])],
        [onnx.numpy_helper.from_array(weights, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    return model.SerializeToString()


@pytest.fixture(scope="module")
def classifier() -> OnnxClassifier:
    return OnnxClassifier(_mean_colour_model(), CLASSES, topk=3, allowed_roots=[], threads=1)


def _b64(seed: int) -> str:
    return base64.b64encode(image_bytes(seed=seed)).decode()


def _as_inferred(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame pandas builds from ``frame``'s own records: what every column's values infer."""
    return pd.DataFrame(frame.to_dict("records"), columns=OUTPUT_COLUMNS)


@pytest.mark.parametrize("n", [1, 3, 70])  # 70: two ONNX Runtime batches of 64
def test_the_answer_has_the_inferred_dtypes(classifier: OnnxClassifier, n: int):
    frame = pd.DataFrame({"image_b64": [_b64(i % 5) for i in range(n)]})
    out = classifier.predict_frame(frame)
    assert tuple(out.columns) == OUTPUT_COLUMNS and len(out) == n
    pd.testing.assert_frame_equal(out, _as_inferred(out), check_exact=True)
    assert out["error"].isna().all() and out["predicted_class"].isin(CLASSES).all()
    first = out.iloc[0]
    assert first["probability"] == first["topk"][0]["probability"]
    assert first["probabilities"][first["predicted_class"]] == first["probability"]
    assert math.isclose(sum(first["probabilities"].values()), 1.0)


def test_rows_with_errors_keep_their_place(classifier: OnnxClassifier):
    frame = pd.DataFrame({"image_b64": ["!!", _b64(1), None, _b64(2)]})
    out = classifier.predict_rows(frame)
    pd.testing.assert_frame_equal(out, _as_inferred(out), check_exact=True)
    assert out["error"].notna().tolist() == [True, False, True, False]
    assert out["error"][0].startswith("image_b64 is not valid base64")
    assert out["error"][2] == "none of image_b64 is set"
    assert out["topk"][0] == [] and out["probabilities"][2] == {}
    good = classifier.predict_frame(pd.DataFrame({"image_b64": [_b64(1), _b64(2)]}))
    answered = out.iloc[[1, 3]].drop(columns="error").to_dict("records")
    assert answered == good.drop(columns="error").to_dict("records")
    with pytest.raises(RequestError, match=r"^row 0: image_b64 is not valid base64.*; row 2: "):
        classifier.predict_frame(frame)


def test_no_rows_no_answers(classifier: OnnxClassifier):
    out = classifier.predict_rows(pd.DataFrame({"image_b64": pd.Series([], dtype=object)}))
    assert list(out.columns) == list(OUTPUT_COLUMNS) and len(out) == 0


def test_every_form_of_one_image_gets_one_answer(classifier: OnnxClassifier):
    data = image_bytes(seed=3)
    text = base64.b64encode(data).decode()
    wrapped = "\n".join(text[i : i + 76] for i in range(0, len(text), 76)) + "\n"
    frame = pd.DataFrame(
        {
            "image_b64": [text, "data:image/jpeg;base64," + text, wrapped, None],
            "image_bytes": [None, None, None, data],
        }
    )
    out = classifier.predict_frame(frame)
    assert out["probabilities"].tolist() == [out["probabilities"][0]] * 4


def test_a_row_with_two_inputs_or_none_is_named(classifier: OnnxClassifier):
    frame = pd.DataFrame(
        {"image_path": ["x.jpg", None, None], "image_b64": [_b64(0), None, None],
         "image_bytes": [None, b"", None]}
    )  # fmt: skip
    out = classifier.predict_rows(frame)
    assert out["error"].tolist() == [
        "both image_path and image_b64 are set; send one",
        "image_bytes is empty (a 0-byte file)",
        "none of image_path, image_b64, image_bytes is set",
    ]


def test_a_frame_without_an_input_column_is_refused(classifier: OnnxClassifier):
    with pytest.raises(RequestError, match=r"expected a column 'image_path'.*got \['image'\]"):
        classifier.predict_frame(pd.DataFrame({"image": ["x"]}))
