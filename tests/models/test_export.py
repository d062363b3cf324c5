"""The export rewrite: convolutions that see their whole input map become matrix products."""

from __future__ import annotations

import logging

import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch import nn

from eurosat_kedro.models import ModelSpec, TrainedModel, build_model, load_trained_model
from eurosat_kedro.models.export import (
    FullMapConv,
    export_onnx,
    prepare_for_export,
    sees_whole_map,
)
from eurosat_kedro.serving.model_card import ModelCard

CLASSES = [f"c{i}" for i in range(10)]


def _resnet18_with_trained_like_batch_norms() -> nn.Module:
    """Random resnet18 whose batch norms are far from identity, so folding them matters."""
    torch.manual_seed(0)
    model = build_model(ModelSpec("resnet18"))
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


@pytest.mark.parametrize(
    ("conv", "size", "expected"),
    [
        (nn.Conv2d(4, 4, 3, padding=1), 2, True),  # resnet18's last stage on 64x64
        (nn.Conv2d(4, 4, 3, padding=1), 1, True),
        (nn.Conv2d(4, 4, 1), 1, True),
        (nn.Conv2d(4, 4, 3, padding=1), 4, False),  # corners do not see each other
        (nn.Conv2d(4, 4, 3, stride=2, padding=1), 4, False),
        (nn.Conv2d(4, 4, 3, padding=1, groups=2), 2, False),  # block-sparse, not dense
        (nn.Conv2d(4, 4, 3, padding=2, dilation=2), 2, False),
        (nn.Conv2d(4, 4, 3, padding="same"), 2, False),
    ],
)
def test_which_convolutions_see_their_whole_map(conv: nn.Conv2d, size: int, expected: bool):
    assert sees_whole_map(conv, (4, size, size)) is expected


def test_resnet18_last_stage_runs_as_matrix_products_with_the_same_outputs():
    model = _resnet18_with_trained_like_batch_norms()
    exported, rewritten = prepare_for_export(model)
    assert rewritten == 3
    replaced = {name for name, m in exported.named_modules() if isinstance(m, FullMapConv)}
    assert replaced == {"layer4.0.conv2", "layer4.1.conv1", "layer4.1.conv2"}
    x = torch.randn(5, 3, 64, 64)
    with torch.inference_mode():
        np.testing.assert_allclose(exported(x).numpy(), model(x).numpy(), atol=1e-5)
        np.testing.assert_allclose(exported(x[:1]).numpy(), model(x[:1]).numpy(), atol=1e-5)
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())  # the original is kept


def test_models_without_such_convolutions_and_the_switch_off_are_left_as_they_are():
    simple = build_model(ModelSpec("simple_cnn")).eval()
    assert prepare_for_export(simple)[1] == 0
    resnet = build_model(ModelSpec("resnet18")).eval()
    assert prepare_for_export(resnet, full_map_convs_as_matmul=False) == (resnet, 0)


class _DataDependent(nn.Module):
    def forward(self, x):
        return x if x.sum() > 0 else -x


def test_a_model_fx_cannot_trace_is_exported_unchanged_with_a_warning(
    caplog: pytest.LogCaptureFixture,
):
    model = _DataDependent()
    with caplog.at_level(logging.WARNING):
        assert prepare_for_export(model) == (model, 0)
    assert "without the full-map rewrite" in caplog.text


@pytest.mark.parametrize("tta", [False, True])
def test_exported_onnx_has_matmuls_and_matches_torch(tta: bool):
    model = _resnet18_with_trained_like_batch_norms()
    trained = TrainedModel(model.state_dict(), ModelSpec("resnet18"), tuple(CLASSES))
    rewritten = export_onnx(trained, 18, tta)
    plain = export_onnx(trained, 18, tta, full_map_convs_as_matmul=False)
    meta = {p.key: p.value for p in rewritten.metadata_props}
    assert meta["full_map_convs_as_matmul"] == "3"
    assert {p.key: p.value for p in plain.metadata_props}["full_map_convs_as_matmul"] == "0"
    convs = [sum(n.op_type == "Conv" for n in m.graph.node) for m in (rewritten, plain)]
    assert convs == [17, 20]
    x = torch.randn(4, 3, 64, 64)
    with torch.inference_mode():
        expected = load_trained_model(trained, tta)(x).numpy()
    session = ort.InferenceSession(
        rewritten.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    logits = session.run(None, {"image": x.numpy()})[0]
    assert np.abs(logits - expected).max() <= 1e-4


def test_tile_resnet_exports_to_onnx_and_matches_torch():
    torch.manual_seed(0)
    model = build_model(ModelSpec("tile_resnet", width=8)).eval()
    for module in model.modules():  # trained-like batch norms (zero-initialised ones hide bugs)
        if isinstance(module, nn.BatchNorm2d):
            nn.init.uniform_(module.weight, 0.5, 1.5)
            nn.init.uniform_(module.running_var, 0.5, 2.0)
    spec = ModelSpec("tile_resnet", width=8)
    trained = TrainedModel(model.state_dict(), spec, tuple(CLASSES))
    onnx_model = export_onnx(trained, 18, False)
    x = torch.randn(3, 3, 64, 64)
    with torch.inference_mode():
        expected = load_trained_model(trained)(x).numpy()
    session = ort.InferenceSession(
        onnx_model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    assert np.abs(session.run(None, {"image": x.numpy()})[0] - expected).max() <= 1e-4


def test_the_temperature_is_inside_the_exported_graph_and_in_its_card():
    torch.manual_seed(0)
    spec = ModelSpec("simple_cnn", width=8)
    trained = TrainedModel(build_model(spec).state_dict(), spec, tuple(CLASSES))
    plain = export_onnx(trained, 18, False)
    calibrated = export_onnx(trained, 18, False, temperature=2.5, unknown_threshold=0.4)
    x = np.random.default_rng(0).normal(size=(4, 3, 64, 64)).astype(np.float32)
    logits = {
        name: ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(
            None, {"image": x}
        )[0]
        for name, m in (("plain", plain), ("calibrated", calibrated))
    }
    np.testing.assert_allclose(logits["calibrated"], logits["plain"] / 2.5, rtol=1e-5, atol=1e-6)
    with torch.inference_mode():
        expected = load_trained_model(trained, temperature=2.5)(torch.from_numpy(x)).numpy()
    assert np.abs(logits["calibrated"] - expected).max() <= 1e-5
    card = ModelCard.of(calibrated)
    assert (card.temperature, card.unknown_threshold) == (2.5, 0.4)
    assert (ModelCard.of(plain).temperature, ModelCard.of(plain).unknown_threshold) == (1.0, 0.0)
