"""The configuration environments override single keys of conf/base."""

from __future__ import annotations

from pathlib import Path

import pytest
from kedro.config import OmegaConfigLoader

from eurosat_kedro.models import ModelSpec
from eurosat_kedro.settings import CONFIG_LOADER_ARGS
from eurosat_kedro.training.loop import TrainConfig

CONF = Path(__file__).parents[1] / "conf"


def _parameters(env: str) -> dict:
    return OmegaConfigLoader(str(CONF), env=env, **CONFIG_LOADER_ARGS)["parameters"]


@pytest.mark.parametrize(
    ("env", "model", "epochs", "weight_decay", "tta"),
    [
        ("local", "simple_cnn", 18, 0.0005, False),
        ("sample", "simple_cnn", 6, 0.0005, False),
        ("resnet18", "resnet18", 36, 0.05, False),
        ("best", "simple_cnn", 80, 0.05, True),
    ],
)
def test_environments_override_only_their_keys(env, model, epochs, weight_decay, tta):
    base = _parameters("local")
    parameters = _parameters(env)
    assert parameters["model"]["name"] == model
    assert parameters["training"]["epochs"] == epochs
    assert parameters["training"]["weight_decay"] == weight_decay
    # everything an environment does not set comes from base
    assert parameters["training"]["lr"] == base["training"]["lr"] == 0.003
    assert parameters["evaluation"]["tta"] is tta
    assert parameters["deployment"] == base["deployment"]
    # every key is one the model and the loop know (a typo would only fail at training time)
    spec = ModelSpec.from_params(parameters["model"], num_classes=10)
    TrainConfig.from_params(parameters["training"], spec.to_dict())
