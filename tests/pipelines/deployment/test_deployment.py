"""ONNX parity and the pyfunc model against the evaluation's predictions."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml

from eurosat_kedro.datasets import OnnxModelDataset, TorchModelDataset
from eurosat_kedro.pipelines.deployment.nodes import ParityError, check_onnx_parity


def _out(project: Path) -> Path:
    return project / "data" / "sample"


def test_parity_report_of_the_run(trained_project: Path):
    report = json.loads((_out(trained_project) / "08_reporting" / "onnx_parity.json").read_text())
    assert report["max_abs_logit_diff"] <= 1e-4 and report["argmax_identical"]
    assert report["n_images"] == 40 and report["opset"] == 18


def test_parity_check_fails_when_the_onnx_model_is_not_the_torch_model(trained_project: Path):
    out = _out(trained_project)
    onnx_model = OnnxModelDataset(str(out / "06_models" / "model.onnx")).load()
    trained = TorchModelDataset(str(out / "06_models" / "model.pt")).load()
    bundle = replace(
        trained,
        state_dict={
            k: v + 0.05 if v.is_floating_point() else v for k, v in trained.state_dict.items()
        },
    )
    test = dict(np.load(out / "05_model_input" / "test.npz"))
    with pytest.raises(ParityError, match="does not match PyTorch.*tolerance"):
        check_onnx_parity(onnx_model, bundle, test, 16, 1e-4)


def test_pyfunc_predictions_equal_the_evaluation_predictions(
    trained_project: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(trained_project)
    out = _out(trained_project)
    evaluation = pd.read_csv(out / "07_model_output" / "test_predictions.csv")
    image_root = out / "01_raw" / "extracted" / "EuroSAT_RGB"
    model = mlflow.pyfunc.load_model(str(out / "06_models" / "mlflow_model"))
    paths = [str(image_root / p) for p in evaluation["path"]]
    served = model.predict(pd.DataFrame({"image_path": paths}))
    classes = json.loads((out / "02_intermediate" / "classes.json").read_text())
    assert list(served["predicted_class"]) == [classes[i] for i in evaluation["predicted"]]
    served_p = np.array([[row[c] for c in classes] for row in served["probabilities"]])
    expected_p = evaluation[[f"p_{c}" for c in classes]].to_numpy()
    np.testing.assert_allclose(served_p, expected_p, atol=1e-5)


# Loads and predicts with the served model in a Python where torch and Kedro cannot be imported
WITHOUT_TORCH = """
import sys

class Missing:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"torch", "torchvision", "kedro", "kedro_mlflow"}:
            raise ModuleNotFoundError(f"No module named {name!r}")

sys.meta_path.insert(0, Missing())
import mlflow.pyfunc
import pandas as pd

model = mlflow.pyfunc.load_model(sys.argv[1])
answer = model.predict(pd.DataFrame({"image_b64": [sys.argv[2]]}))
print(answer["predicted_class"][0])
"""


def test_served_model_needs_neither_torch_nor_kedro(trained_project: Path, tmp_path: Path):
    folder = _out(trained_project) / "06_models" / "mlflow_model"
    names = {line.split("==")[0] for line in (folder / "requirements.txt").read_text().split()}
    assert names == {"mlflow", "onnxruntime", "numpy", "pandas", "pillow"}
    image = next(
        (_out(trained_project) / "01_raw" / "extracted" / "EuroSAT_RGB" / "Forest").glob("*.jpg")
    )
    script = tmp_path / "without_torch.py"
    script.write_text(WITHOUT_TORCH)
    done = subprocess.run(
        [sys.executable, str(script), str(folder), base64.b64encode(image.read_bytes()).decode()],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-1] in json.loads(
        (_out(trained_project) / "02_intermediate" / "classes.json").read_text()
    )


def test_served_model_is_saved_as_code_not_as_a_pickle(trained_project: Path):
    folder = _out(trained_project) / "06_models" / "mlflow_model"
    flavor = yaml.safe_load((folder / "MLmodel").read_text())["flavors"]["python_function"]
    assert flavor["loader_module"] == "mlflow.pyfunc.loaders.code_model"
    assert (folder / "pyfunc_entry.py").is_file()
    assert not list(folder.rglob("*.pkl"))
