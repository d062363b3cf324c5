"""The shared building blocks: moving ``classifier_head`` out of simple_cnn kept every
state-dict key, so models trained before still load."""

from __future__ import annotations

import torch

from eurosat_kedro.models import ModelSpec, build_model
from eurosat_kedro.models.components import classifier_head


def _bn(name: str, channels: int) -> dict[str, tuple[int, ...]]:
    stats = ("weight", "bias", "running_mean", "running_var")
    return {**{f"{name}.{s}": (channels,) for s in stats}, f"{name}.num_batches_tracked": ()}


def _conv_bn(conv: int, c_in: int, c_out: int) -> dict[str, tuple[int, ...]]:
    return {f"features.{conv}.weight": (c_out, c_in, 3, 3), **_bn(f"features.{conv + 1}", c_out)}


# simple_cnn at width 4, as saved before the head moved (commit 328978c)
SIMPLE_CNN_W4 = {
    **_conv_bn(0, 3, 4),
    **_conv_bn(4, 4, 8),
    **_conv_bn(7, 8, 8),
    **_conv_bn(11, 8, 16),
    **_conv_bn(14, 16, 16),
    **_conv_bn(18, 16, 32),
    **_conv_bn(21, 32, 32),
    "head.3.weight": (10, 32),
    "head.3.bias": (10,),
}


def test_a_simple_cnn_state_dict_from_before_loads_key_for_key():
    model = build_model(ModelSpec("simple_cnn", width=4))
    shapes = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    assert list(shapes) == list(SIMPLE_CNN_W4) and shapes == SIMPLE_CNN_W4
    old = {key: torch.zeros(shape) for key, shape in SIMPLE_CNN_W4.items()}
    model.load_state_dict(old)  # strict: no key missing, none unexpected


def test_tile_resnet_keeps_its_head_keys():
    keys = list(build_model(ModelSpec("tile_resnet", width=4)).state_dict())
    assert keys[-2:] == ["head.3.weight", "head.3.bias"] and len(keys) == 122


def test_the_head_pools_and_classifies():
    head = classifier_head(8, 3, dropout=0.0).eval()
    assert head(torch.randn(2, 8, 5, 5)).shape == (2, 3)
