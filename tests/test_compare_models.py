"""scripts/compare_models.py on the sample run's model and test split: the figures are the
evaluation's own, and a model against itself has no discordant images."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "compare_models.py"


def test_compare_models_reports_the_evaluations_figures(trained_project: Path, tmp_path: Path):
    data = trained_project / "data" / "sample"
    model = data / "06_models" / "model.pt"
    out = tmp_path / "compare.json"
    subprocess.run(
        [sys.executable, str(SCRIPT), f"plain={model}", f"again={model}", f"tta={model}:tta",
         "--split", str(data / "05_model_input" / "test.npz"), "--json", str(out)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    figures = json.loads(out.read_text())
    evaluated = json.loads((data / "08_reporting" / "metrics.json").read_text())
    plain = figures["models"]["plain"]
    assert plain["tta"] is False and figures["models"]["tta"]["tta"] is True
    for key in ("accuracy", "accuracy_ci_low", "accuracy_ci_high", "macro_f1"):
        assert plain[key] == pytest.approx(evaluated[key]), key
    assert plain["accuracy_ci_low"] <= plain["accuracy"] <= plain["accuracy_ci_high"]
    assert figures["pairs"]["plain vs again"] == {"n01": 0, "n10": 0, "p_value": 1.0}
    tta_pair = figures["pairs"]["plain vs tta"]
    tta_gain = figures["models"]["tta"]["accuracy"] - plain["accuracy"]
    n_images = len(np.load(data / "05_model_input" / "test.npz")["labels"])
    assert tta_pair["n10"] - tta_pair["n01"] == round(tta_gain * n_images)


def test_a_missing_model_file_or_split_is_named(trained_project: Path, tmp_path: Path):
    model = trained_project / "data" / "sample" / "06_models" / "model.pt"
    gone, no_split = tmp_path / "model.pt", tmp_path / "test.npz"
    for arguments, message in [
        ([f"gone={gone}", "--split", str(no_split)], f"gone: no model file at {gone}"),
        ([f"plain={model}", "--split", str(no_split)], f"no split at {no_split}: run `kedro"),
    ]:
        result = subprocess.run(
            [sys.executable, str(SCRIPT), *arguments], capture_output=True, text=True
        )
        assert result.returncode != 0 and message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
