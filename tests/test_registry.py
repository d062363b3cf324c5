"""The champion gate and the test-split fingerprint (no MLflow store needed); the
descriptions of the registered model and its versions (in a store of the test's own)."""

from __future__ import annotations

import mlflow
import numpy as np
import pytest
from kedro.config import OmegaConfigLoader

from eurosat_kedro.registry import (
    Candidate,
    decide_alias,
    model_description,
    register_logged_model,
    split_fingerprint,
)
from eurosat_kedro.serving.contract import INPUT_COLUMNS, ServingConfig
from eurosat_kedro.serving.package import PyfuncPackage
from eurosat_kedro.settings import CONFIG_LOADER_ARGS
from tests.conftest import CLASSES, PROJECT_ROOT, tiny_onnx

SPLIT = "a" * 64
CHAMPION = Candidate(0.90, SPLIT)


@pytest.mark.parametrize(
    ("accuracy", "min_improvement", "alias"),
    [
        (0.95, 0.0, "champion"),  # better
        (0.90, 0.0, "challenger"),  # equal is not better
        (0.85, 0.0, "challenger"),  # worse
        (0.905, 1.0, "challenger"),  # better by 0.5 points, 1 required
        (0.92, 1.0, "champion"),  # better by 2 points
    ],
)
def test_auto_promotes_only_a_model_better_on_the_same_split(accuracy, min_improvement, alias):
    chosen, why = decide_alias(Candidate(accuracy, SPLIT), CHAMPION, "auto", min_improvement)
    assert chosen == alias
    assert f"{accuracy:.4f}" in why and "0.9000" in why


def test_a_worse_model_never_becomes_champion_by_accident():
    for accuracy in np.linspace(0.0, 0.9, 19):
        for min_improvement in (0.0, 0.5, 5.0):
            chosen, _ = decide_alias(
                Candidate(float(accuracy), SPLIT), CHAMPION, "auto", min_improvement
            )
            assert chosen == "challenger"


def test_the_first_version_becomes_champion():
    assert decide_alias(Candidate(0.1, SPLIT), None, "auto", 0.0) == (
        "champion",
        "first version: there was no champion",
    )


def test_a_model_measured_on_another_split_is_not_compared():
    chosen, why = decide_alias(Candidate(0.99, "b" * 64), CHAMPION, "auto", 0.0)
    assert chosen == "challenger" and "different test split" in why
    assert "promote=always" in why


def test_always_and_never_override_the_gate():
    assert decide_alias(Candidate(0.1, "b" * 64), CHAMPION, "always", 0.0)[0] == "champion"
    assert decide_alias(Candidate(0.99, SPLIT), CHAMPION, "never", 0.0)[0] == "challenger"
    assert decide_alias(Candidate(0.99, SPLIT), None, "never", 0.0)[0] == "challenger"


def test_an_unknown_promote_setting_names_the_choices():
    with pytest.raises(ValueError, match=r"promote must be one of \['auto', 'always', 'never'\]"):
        decide_alias(Candidate(0.99, SPLIT), CHAMPION, "sometimes", 0.0)


def _split(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "images": rng.integers(0, 256, (4, 64, 64, 3), dtype=np.uint8),
        "labels": np.array([0, 1, 2, 3]),
        "paths": np.array(
            [
                "Forest/Forest_1.jpg",
                "River/River_1.jpg",
                "SeaLake/SeaLake_1.jpg",
                "Highway/Highway_1.jpg",
            ]
        ),
    }


def test_the_fingerprint_changes_with_any_pixel_label_or_path():
    base = split_fingerprint(_split())
    assert base == split_fingerprint(_split()) and len(base) == 64
    changed = _split()
    changed["images"][2, 10, 10, 1] ^= 1
    assert split_fingerprint(changed) != base
    changed = _split()
    changed["labels"][0] = 5
    assert split_fingerprint(changed) != base
    changed = _split()
    changed["paths"][3] = "Highway/Highway_2.jpg"
    assert split_fingerprint(changed) != base


TAGS = {
    "model_name": "simple_cnn",
    "precision": "fp32",
    "tta": "true",
    "test_accuracy": "0.987200",
    "test_macro_f1": "0.986500",
    "data_fingerprint": SPLIT,
    "git_commit": "abc123",
}


@pytest.mark.filterwarnings("ignore:.*An input example was not provided")
def test_the_registered_model_and_each_version_are_described(mlflow_experiment: str):
    classes = tuple(CLASSES)
    package = PyfuncPackage(tiny_onnx({"classes": ",".join(classes)}), ServingConfig(classes))
    with mlflow.start_run(experiment_id=mlflow_experiment) as run:
        info = package.log()
    logged = {"model_uri": info.model_uri, "model_id": info.model_id, "run_id": run.info.run_id}
    about = "Toy models of the sample: never serve them."
    report = register_logged_model(
        "landuse-test",
        logged,
        {**TAGS, "run_id": run.info.run_id},
        model_text=model_description(classes, about),
    )

    client = mlflow.MlflowClient()
    model = client.get_registered_model("landuse-test").description
    assert model.startswith(about) and "0 AnnualCrop, 1 Forest" in model and "9 SeaLake" in model
    assert all(f"`{column}`" in model for column in INPUT_COLUMNS)
    assert "`on_error` (raise | row)" in model
    version = client.get_model_version("landuse-test", report["version"]).description
    assert "Model `simple_cnn`, fp32 weights, test-time augmentation on." in version
    assert "Test accuracy 0.9872, macro F1 0.9865" in version and SPLIT[:12] in version
    assert f"MLflow run `{run.info.run_id}`, commit `abc123`" in version


def test_the_sample_environment_registers_under_its_own_name():
    def registry_of(env: str) -> dict:
        loader = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), env=env, **CONFIG_LOADER_ARGS)
        return loader["parameters"]["deployment"]["registry"]

    base, sample = registry_of("base"), registry_of("sample")
    assert base["model_name"] == "eurosat-landuse"
    assert sample["model_name"] == "eurosat-landuse-sample"
    assert sample["promote"] == base["promote"]  # the rest of the block is base's
    assert "300-image sample" in sample["description"]
